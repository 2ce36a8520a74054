/* A pod's cgroup by its UID; see pod_cgroup.h. */
#include "bpf/pod_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct search {
	char cgroupfs_name[64]; /* pod<uid> */
	char systemd_tail[72];  /* -pod<uid_with_underscores>.slice */
	char found[PATH_MAX];
	unsigned matches;
};

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);
	return n >= m && strcmp(s + n - m, tail) == 0;
}

static void walk(struct search *s, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && s->matches < 2) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (strcmp(e->d_name, s->cgroupfs_name) == 0 || ends_with(e->d_name, s->systemd_tail)) {
			if (s->matches++ == 0)
				snprintf(s->found, sizeof(s->found), "%s", path);
			continue; /* a pod's own children are its containers */
		}
		if (depth + 1 < POD_CGROUP_MAX_DEPTH)
			walk(s, path, depth + 1);
	}
	closedir(d);
}

int pod_cgroup_find(const char *root, const char *pod_uid, char *out, size_t outlen, char *err,
		    size_t errlen)
{
	size_t n = strlen(pod_uid);
	if (n == 0 || n > 48 || strspn(pod_uid, "0123456789abcdef-") != n) {
		snprintf(err, errlen, "pod UID \"%s\": expected the pod's metadata.uid", pod_uid);
		return -EINVAL;
	}
	struct search s = { .matches = 0 };
	snprintf(s.cgroupfs_name, sizeof(s.cgroupfs_name), "pod%s", pod_uid);
	/* systemd slice names use '-' for nesting: the UID's dashes become
	 * underscores. */
	char uid_us[49];
	snprintf(uid_us, sizeof(uid_us), "%s", pod_uid);
	for (char *p = uid_us; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(s.systemd_tail, sizeof(s.systemd_tail), "-pod%s.slice", uid_us);
	struct stat st;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int e = errno ? errno : ENOTDIR;
		snprintf(err, errlen, "cgroup root %s: %s", root, strerror(e));
		return -e;
	}
	walk(&s, root, 0);
	if (s.matches == 0) {
		snprintf(err, errlen, "no cgroup for pod %s under %s (looked for %s or *%s)", pod_uid,
			 root, s.cgroupfs_name, s.systemd_tail);
		return -ENOENT;
	}
	if (s.matches > 1) {
		snprintf(err, errlen, "more than one cgroup for pod %s under %s", pod_uid, root);
		return -EEXIST;
	}
	if (snprintf(out, outlen, "%s", s.found) >= (int)outlen) {
		snprintf(err, errlen, "cgroup path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}
