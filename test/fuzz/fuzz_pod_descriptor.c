/* libFuzzer target for pod descriptors (node/pod.c), which any writer of the
 * node daemon's pods directory controls: any bytes must give either a pod or
 * a one-line error, never a crash, a leak or an unbounded run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "node/pod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pod p;
	char err[256];
	if (pod_parse((const char *)data, size, "fuzz.json", &p, err, sizeof(err)) == 0) {
		if (!p.uid || !p.name || !p.namespace || !p.service_account || !p.netns ||
		    !p.cert || !p.key || !p.ca)
			__builtin_trap(); /* a parsed pod has every required field */
		pod_clear(&p);
	} else if (memchr(err, '\n', strnlen(err, sizeof(err)))) {
		__builtin_trap();
	}
	return 0;
}
