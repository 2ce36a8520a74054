/* libFuzzer target for the webhook's AdmissionReview reader
 * (deploy/webhook.c): any bytes give either a 400/413 with a one-line
 * message, or an answer that is JSON our own reader accepts again, with a
 * patch (when there is one) that is JSON too; never a crash, a leak or an
 * unbounded run. */
#include <stddef.h>
#include <stdint.h>

#include "deploy/webhook.c"

/* True if `text` reads back as JSON (json_load wants an object first). */
static bool reads_back(const char *text, size_t len)
{
	char *wrapped = NULL, err[512];
	yaml_document_t doc;
	int n = asprintf(&wrapped, "{\"v\":%.*s}", (int)len, text);
	int rc = n < 0 ? -ENOMEM : json_load(wrapped, (size_t)n, &doc, err, sizeof(err));

	free(wrapped);
	if (rc == 0)
		yaml_document_delete(&doc);
	return rc != -EINVAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct inject_opts o = {.image = "skiff:fuzz"};
	struct webhook_answer a;
	int rc = webhook_review((const char *)data, size, &o, &a);

	if (rc < 0) {
		if (a.json || memchr(a.message, '\n', strnlen(a.message, sizeof(a.message))))
			__builtin_trap();
		return 0;
	}
	if (!reads_back(a.json, a.json_len))
		__builtin_trap(); /* we wrote something that is not JSON */
	if (a.outcome == WEBHOOK_INJECTED) {
		const char *p = strstr(a.json, "\"patch\":\"") + 9;
		size_t b64 = strcspn(p, "\"");
		unsigned char *patch = malloc(b64 / 4 * 3 + 1);
		int n = patch ? EVP_DecodeBlock(patch, (const unsigned char *)p, (int)b64) : 0;

		while (n > 0 && patch[n - 1] == '\0')
			n--;
		if (patch && (n <= 0 || patch[0] != '[' || !reads_back((char *)patch, (size_t)n)))
			__builtin_trap();
		free(patch);
	}
	free(a.json);
	return 0;
}
