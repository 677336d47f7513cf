/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest validation: a table of bodies and Content-Types and what each must give. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define OCI_M "application/vnd.oci.image.manifest.v1+json"
#define OCI_I "application/vnd.oci.image.index.v1+json"
#define CFG                                                                                        \
	"{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1             \
	"\",\"size\":10}"
#define LAYER                                                                                      \
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2          \
	"\",\"size\":20}"

static void test_table(void **state)
{
	static const struct {
		const char *body, *content_type;
		enum octo_err want;
		const char *media_type;
		size_t n_refs;
	} cases[] = {
		/* valid */
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG
		 ",\"layers\":[" LAYER "]}",
		 OCI_M, OCTO_OK, OCI_M, 2},
		{"{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}", OCI_M, OCTO_OK, OCI_M,
		 1},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG
		 ",\"layers\":[]}",
		 "application/json", OCTO_OK, OCI_M, 1},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG
		 ",\"layers\":[]}",
		 OCI_M "; charset=utf-8", OCTO_OK, OCI_M, 1},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_I
		 "\",\"manifests\":[{\"mediaType\":\"" OCI_M "\",\"digest\":\"" D1
		 "\",\"size\":5,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
		 OCI_I, OCTO_OK, OCI_I, 1},
		{"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
		 "\"config\":" CFG ",\"layers\":[" LAYER "]}",
		 "application/vnd.docker.distribution.manifest.v2+json", OCTO_OK,
		 "application/vnd.docker.distribution.manifest.v2+json", 2},
		/* invalid */
		{"", OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"not json", OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"[]", OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"config\":" CFG
		 ",\"layers\":[],\"annotations\":{\"a\":\"\xff\"}}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":1,\"config\":" CFG ",\"layers\":[]}", OCI_M,
		 OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}", NULL,
		 OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG
		 ",\"layers\":[]}",
		 OCI_I, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":" CFG
		 ",\"layers\":[]}",
		 "text/plain", OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"layers\":[]}", OCI_M,
		 OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG "}", OCI_M,
		 OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M
		 "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M
		 "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1
		 "\",\"size\":-1},\"layers\":[]}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M
		 "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1
		 "\",\"size\":\"1\"},\"layers\":[]}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"config\":" CFG
		 ",\"layers\":[],\"subject\":{\"digest\":\"" D1 "\"}}",
		 OCI_M, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_I "\",\"manifests\":{}}", OCI_I,
		 OCTO_ERR_MANIFEST_INVALID, NULL, 0},
		{"{\"schemaVersion\":2,\"mediaType\":\"" OCI_I
		 "\",\"manifests\":[{\"mediaType\":\"" OCI_M "\",\"digest\":\"" D1
		 "\",\"size\":5,\"platform\":\"linux\"}]}",
		 OCI_I, OCTO_ERR_MANIFEST_INVALID, NULL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct octo_manifest m;
		const char *detail;
		enum octo_err err = octo_manifest_parse(cases[i].body, strlen(cases[i].body),
							cases[i].content_type, &m, &detail);
		if (err != cases[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, err, detail ? detail : "",
				 cases[i].want);
		if (err == OCTO_OK) {
			assert_string_equal(m.media_type, cases[i].media_type);
			assert_int_equal(m.n_refs, cases[i].n_refs);
		} else {
			assert_non_null(detail);
		}
		octo_manifest_cleanup(&m);
	}
}

static void test_artifact_fields(void **state)
{
	static const char body[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_M
		"\",\"artifactType\":\"application/x-sig\","
		"\"config\":" CFG ",\"layers\":[],\"subject\":{\"mediaType\":\"" OCI_M
		"\",\"digest\":\"" D2 "\",\"size\":7},\"annotations\":{\"k\":\"v\"}}";
	static const char no_at[] = "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}";
	struct octo_manifest m;
	const char *detail;

	(void)state;
	assert_int_equal(octo_manifest_parse(body, strlen(body), OCI_M, &m, &detail), OCTO_OK);
	assert_string_equal(m.artifact_type, "application/x-sig");
	assert_true(m.has_subject);
	assert_string_equal(m.subject.hex, D2 + 7);
	assert_string_equal(m.annotations, "{\"k\":\"v\"}");
	octo_manifest_cleanup(&m);
	/* without artifactType, an image's config media type stands in */
	assert_int_equal(octo_manifest_parse(no_at, strlen(no_at), OCI_M, &m, &detail), OCTO_OK);
	assert_string_equal(m.artifact_type, "application/vnd.oci.image.config.v1+json");
	assert_false(m.has_subject);
	octo_manifest_cleanup(&m);
}

/* The pre-scan's weight and depth: structure outside strings only. */
static void test_weight_table(void **state)
{
	static const struct {
		const char *json;
		size_t weight, depth;
	} cases[] = {
		{"{}", 2, 1},
		{"{\"a\":1}", 3, 1},
		{"{\"a\":[1,2,3]}", 6, 2},
		{"{\"a\":\"{[,:]}\"}", 3, 1}, /* structure inside a string does not count */
		{"{\"a\":\"\\\"{[\"}", 3, 1}, /* nor after an escaped quote */
		{"[[[[]]]]", 5, 4},
		{"", 1, 0},
	};
	size_t i, depth;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t w = octo_manifest_weight(cases[i].json, strlen(cases[i].json), &depth);
		if (w != cases[i].weight || depth != cases[i].depth)
			fail_msg("%s: weight %zu depth %zu", cases[i].json, w, depth);
	}
}

/* Past the weight or the depth, a manifest is refused before jansson allocates anything. */
static void test_budget_refusals(void **state)
{
	static const char head[] =
		"{\"schemaVersion\":2,\"mediaType\":"
		"\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],\"x\":";
	size_t n = 500000, len = 0, i;
	char *body = malloc(sizeof(head) + 3 * n + 8);
	struct octo_manifest m;
	const char *detail;

	(void)state;
	memcpy(body, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	body[len++] = '[';
	for (i = 0; i < n; i++)
		memcpy(body + len, "{},", 3), len += 3;
	body[len - 1] = ']';
	body[len++] = '}';
	assert_int_equal(octo_manifest_parse(body, len, NULL, &m, &detail),
			 OCTO_ERR_MANIFEST_INVALID);
	assert_non_null(strstr(detail, "too many JSON values"));
	len = sizeof(head) - 1;
	for (i = 0; i < 100; i++)
		body[len++] = '[';
	for (i = 0; i < 100; i++)
		body[len++] = ']';
	body[len++] = '}';
	assert_int_equal(octo_manifest_parse(body, len, NULL, &m, &detail),
			 OCTO_ERR_MANIFEST_INVALID);
	assert_non_null(strstr(detail, "nested too deep"));
	len = sizeof(head) - 1;
	for (i = 0; i < 60; i++)
		body[len++] = '[';
	for (i = 0; i < 60; i++)
		body[len++] = ']';
	body[len++] = '}';
	assert_int_equal(octo_manifest_parse(body, len, NULL, &m, &detail), OCTO_OK);
	octo_manifest_cleanup(&m);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_artifact_fields),
		cmocka_unit_test(test_weight_table),
		cmocka_unit_test(test_budget_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
