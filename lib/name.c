/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-written matchers for the spec's name and tag regular expressions. */
#include "autoconfig.h"

#include <string.h>
#include <strings.h>

#include "name.h"

static int is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static int component_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_alnum_lower(s[0]))
		return 0;
	while (i < len) {
		if (is_alnum_lower(s[i])) {
			i++;
			continue;
		}
		/* a separator: ".", "_", "__" or "-+", then an alphanumeric must follow */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < len && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i >= len || !is_alnum_lower(s[i]))
			return 0;
	}
	return 1;
}

int octo_name_valid(const char *s, size_t len)
{
	size_t start = 0, i;

	if (len == 0 || len > OCTO_NAME_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (!component_valid(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

static int is_tag_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int octo_tag_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > OCTO_TAG_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!is_tag_char(s[i]))
			return 0;
	return 1;
}

int octo_tag_cmp(const char *a, const char *b)
{
	int c = strcasecmp(a, b);

	return c != 0 ? c : strcmp(a, b);
}
