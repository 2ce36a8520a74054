/* libFuzzer target for sidecar injection (deploy/inject.c): any bytes give
 * either output in which a second run finds nothing more to inject, or a
 * one-line error; never a crash, a leak or an unbounded run. */
#include <stddef.h>
#include <stdint.h>

/* The .c itself, so the target links whether or not the library it is
 * linked with has deploy/ in it. */
#include "deploy/inject.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_opts o = {.source = "fuzz.yaml"};
	struct inject_counts first, second;
	char err[512], *out = NULL, *again = NULL;
	size_t out_len, again_len;

	if (inject_yaml((const char *)data, size, &o, &out, &out_len, &first, err, sizeof(err)) <
	    0) {
		if (memchr(err, '\n', strnlen(err, sizeof(err))))
			__builtin_trap(); /* messages are one line, whatever the input */
		return 0;
	}
	/* Every pod template injected is recognised as such the next time.
	 * (Byte equality is not asserted here: libyaml's emitter normalises odd
	 * input, e.g. an anchored empty document, in more than one step; the
	 * golden tests assert it on real manifests.) */
	if (inject_yaml(out, out_len, &o, &again, &again_len, &second, err, sizeof(err)) == 0 &&
	    (second.injected != 0 || second.already_injected < first.injected))
		__builtin_trap();
	free(again);
	free(out);
	return 0;
}
