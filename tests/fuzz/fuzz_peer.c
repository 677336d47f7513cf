/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for every message the peer daemon unpacks from a peer (proto/peer.proto,
 * protobuf-c): hostile bytes as each message type. What unpacks must pack again and unpack
 * to the same bytes' length; crashes and sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "peer.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unpack as desc, pack again, and unpack that: a message that packs must read back. */
static void roundtrip(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size, data), *again;
	uint8_t *buf;
	size_t n;

	if (m == NULL)
		return;
	n = protobuf_c_message_get_packed_size(m);
	buf = malloc(n + 1);
	if (buf == NULL || protobuf_c_message_pack(m, buf) != n)
		abort();
	again = protobuf_c_message_unpack(desc, NULL, n, buf);
	if (again == NULL || protobuf_c_message_get_packed_size(again) != n)
		abort();
	protobuf_c_message_free_unpacked(again, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	roundtrip(&octoserve__peer__v1__health_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__health_reply__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__fetch_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__chunk__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__apply_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__apply_reply__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__summary_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__summary_reply__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__vote_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__vote_reply__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__hold_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__hold_reply__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__collect_request__descriptor, data, size);
	roundtrip(&octoserve__peer__v1__collect_reply__descriptor, data, size);
	return 0;
}
