/* Shared by the BPF unit tests: each test binary runs in a network namespace
 * of its own (lo only, so nothing it does reaches the machine's network) and,
 * where programs attach to a cgroup, in a cgroup of its own. They need root;
 * without it every test is skipped, not failed. Header-only: test binaries
 * are single files (see the Makefile's unit rule). */
#ifndef SKIFF_TEST_BPF_TEST_H
#define SKIFF_TEST_BPF_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Enters a fresh network namespace with lo up. false when not permitted. */
static inline bool test_isolate_netns(void)
{
	struct ifreq ifr;
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return false;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return true;
}

/* Runs a shell command (ip addr ...) inside the test's namespace. */
static inline int test_sh(const char *cmd)
{
	int rc = system(cmd);

	return rc == 0 ? 0 : -1;
}

/* The cgroup2 mount point, from /proc/mounts. */
static inline bool test_cgroup2_mount(char *out, size_t len)
{
	char line[4096], dev[256], dir[2048], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %2047s %63s", dev, dir, type) == 3 && !strcmp(type, "cgroup2"))
			found = (size_t)snprintf(out, len, "%s", dir) < len;
	fclose(f);
	return found;
}

/* The caller's cgroup v2 directory (absolute). */
static inline bool test_self_cgroup(char *out, size_t len)
{
	char mnt[2048], line[4096];
	FILE *f;
	bool found = false;

	if (!test_cgroup2_mount(mnt, sizeof(mnt)) || !(f = fopen("/proc/self/cgroup", "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		found = (size_t)snprintf(out, len, "%s%s", mnt, line + 3) < len;
	}
	fclose(f);
	return found;
}

/* Moves the whole process into cgroup directory `dir`. */
static inline int test_enter_cgroup(const char *dir)
{
	char path[4400];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	rc = fprintf(f, "%d\n", getpid()) > 0 ? 0 : -EIO;
	if (fclose(f) != 0)
		rc = -errno;
	return rc;
}

#endif
