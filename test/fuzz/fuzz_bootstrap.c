/* libFuzzer target for the bootstrap reader (proxy/bootstrap.c): any bytes
 * must give either a snapshot or a one-line error, never a crash, a leak or
 * an unbounded run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proxy/bootstrap.h"
#include "proxy/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot *snap = NULL;
	char err[256];
	if (bootstrap_load_string("fuzz.yaml", (const char *)data, size, &snap, err, sizeof(err)) == 0)
		snapshot_unref(snap);
	else if (memchr(err, '\n', strnlen(err, sizeof(err))))
		__builtin_trap(); /* messages are one line, whatever the input */
	return 0;
}
