/* protobuf JSON durations; see duration.h. */
#include "proxy/duration.h"

#include <errno.h>
#include <stdio.h>

/* protobuf's JSON mapping allows nanosecond precision, so 9 digits. */
#define MAX_FRACTION_DIGITS 9

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int duration_parse(const char *s, uint32_t *ms)
{
	if (!s || !is_digit(*s))
		return -EINVAL;
	uint64_t total = 0; /* in ms; checked against UINT32_MAX at each digit */
	int range = 0;
	for (; is_digit(*s); s++) {
		total = total * 10 + (uint64_t)(*s - '0') * 1000;
		if (total > UINT32_MAX) {
			range = 1;
			total = UINT32_MAX; /* keep scanning: garbage still beats range */
		}
	}
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return -EINVAL;
		unsigned scale = 100; /* ms value of the first fraction digit */
		for (int n = 0; is_digit(*s); s++, n++) {
			if (n == MAX_FRACTION_DIGITS)
				return -EINVAL;
			total += (uint64_t)(*s - '0') * scale;
			scale /= 10;
		}
		if (total > UINT32_MAX)
			range = 1;
	}
	if (s[0] != 's' || s[1] != '\0')
		return -EINVAL;
	if (range)
		return -ERANGE;
	*ms = (uint32_t)total;
	return 0;
}

int duration_format(uint32_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		return snprintf(buf, len, "%us", ms / 1000);
	return snprintf(buf, len, "%u.%03us", ms / 1000, ms % 1000);
}
