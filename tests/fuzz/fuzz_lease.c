/* fuzz_lease.c — libFuzzer target: the bodies the lease protocol accepts
 * (daemon/api/lease_parse.c). The first byte picks the operation, the rest is
 * the body, parsed as the API parses it (request_parse_body). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/api/lease_parse.h"
#include "../../daemon/request/request.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    lease_op op = (lease_op)(data[0] % (LEASE_OP_HEARTBEAT + 1));
    json_t *in = NULL;
    request_error re;
    if (request_parse_body((const char *)data + 1, size - 1, &in, &re) < 0)
        return 0;
    lease_req q;
    lease_parse_error e;
    if (lease_parse(op, in, 30000, 30000, &q, &e) == 0) {
        /* what the handlers hand on must be what the contract says */
        if (op != LEASE_OP_HEARTBEAT && !lease_remote_name_ok(q.owner))
            abort();
        if (op == LEASE_OP_HEARTBEAT && !lease_remote_name_ok(q.id))
            abort();
        if (op != LEASE_OP_HEARTBEAT && (q.lease_ms < LEASE_MIN_MS || q.lease_ms > LEASE_MAX_MS))
            abort();
        if (q.wait_ms < 0 || q.wait_ms > 30000)
            abort();
        if ((op == LEASE_OP_TEST || op == LEASE_OP_FINISH) && !json_is_object(q.result))
            abort();
        if (op == LEASE_OP_HEARTBEAT && !q.gone && (!q.host || !*q.host || strlen(q.host) > 255))
            abort();
    } else if (!e.code || !e.message || (e.status != 400 && e.status != 422)) {
        abort();
    }
    json_decref(in);
    return 0;
}
