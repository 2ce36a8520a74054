/* Finding a pod's cgroup from inside one of its containers: the kubelet
 * names it after the pod's UID, with the cgroupfs driver as `pod<UID>` and
 * with the systemd driver as `...-pod<UID, dashes as underscores>.slice`,
 * a few levels under the cgroup root (kubepods/burstable/...). The capture
 * init step knows its pod's UID from the downward API, and sees the host's
 * cgroup tree through a read-only mount. */
#ifndef SKIFF_BPF_POD_CGROUP_H
#define SKIFF_BPF_POD_CGROUP_H

#include <stddef.h>

/* How deep under root the pod's directory may be. */
#define POD_CGROUP_MAX_DEPTH 4

/* Writes into out the one directory under root (at most
 * POD_CGROUP_MAX_DEPTH levels down) named for pod_uid. Returns 0; -EINVAL
 * for a UID that is not [0-9a-f-] of sane length; -ENOENT when none is
 * found, -EEXIST when more than one is (err says where); -errno when root
 * cannot be read. */
int pod_cgroup_find(const char *root, const char *pod_uid, char *out, size_t outlen, char *err,
		    size_t errlen);

#endif
