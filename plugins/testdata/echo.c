/*
 * A payment-scheme plugin whose call exercises every host service, through the call context,
 * and answers with what it saw:
 *
 *   echo:<request>|spent=<1 if kv_insert_if_absent("spent") inserted, else 0>
 *   |now=<now_unix_millis>|random=<4 random bytes in hex>|callback=<CallBack response>
 *   |failed=<the names of the checks that failed, comma-separated; empty when all passed>
 *
 * The checks expect the host services of the tests: a key "panic" makes kv_put panic (the
 * host must answer IOTP_PLUGIN_ERR_PANIC). The entry point logs "echo: started" and puts
 * "started" = "yes" through the host context.
 *
 * -DCALL_STATUS=n makes call return status n and nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "iotp_plugin.h"

#ifndef CALL_STATUS
#define CALL_STATUS IOTP_PLUGIN_OK
#endif

const IotpPluginDescriptor iotp_plugin_descriptor = {
    sizeof(IotpPluginDescriptor), IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
    "echo", "2.1.0", NULL,
};

static const IotpHostServices *host;

/* A growing byte string, allocated with malloc: the response. */
typedef struct {
    uint8_t *ptr;
    size_t len;
    size_t cap;
    int failed;
} text;

static void append(text *t, const void *bytes, size_t len) {
    if (t->len + len > t->cap) {
        size_t cap = (t->len + len) * 2 + 16;
        uint8_t *grown = realloc(t->ptr, cap);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->ptr = grown;
        t->cap = cap;
    }
    if (len > 0) {
        memcpy(t->ptr + t->len, bytes, len);
        t->len += len;
    }
}

static void append_str(text *t, const char *s) { append(t, s, strlen(s)); }

#define KEY(s) (const uint8_t *)(s), sizeof(s) - 1

static text failures;

static void check(int ok, const char *name) {
    if (!ok) {
        if (failures.len > 0) {
            append_str(&failures, ",");
        }
        append_str(&failures, name);
    }
}

static int buffer_is(IotpBuffer buffer, const char *expected) {
    return buffer.len == strlen(expected) && memcmp(buffer.ptr, expected, buffer.len) == 0;
}

static void free_buffer(void *plugin_ctx, IotpBuffer buffer) {
    (void)plugin_ctx;
    free(buffer.ptr);
}

static IotpStatus call(void *plugin_ctx, void *call_ctx, const uint8_t *request,
                       size_t request_len, IotpBuffer *out) {
    static const char callback_request[] =
        "<IotpPaymentApiRequest><CallBack ContStatus=\"Continue\"/></IotpPaymentApiRequest>";
    text response = {NULL, 0, 0, 0};
    IotpBuffer got = {NULL, 0, 0};
    IotpBuffer callback_response = {NULL, 0, 0};
    bool inserted = false;
    bool spent = false;
    uint8_t random_bytes[4] = {0, 0, 0, 0};
    char number[64];
    int64_t now;
    IotpStatus status;
    (void)plugin_ctx;
    if (CALL_STATUS != IOTP_PLUGIN_OK) {
        return CALL_STATUS;
    }
    failures.len = 0;

    check(host->kv_put(call_ctx, KEY("coin"), KEY("v1")) == IOTP_PLUGIN_OK, "put");
    status = host->kv_get(call_ctx, KEY("coin"), &got);
    check(status == IOTP_PLUGIN_OK && buffer_is(got, "v1"), "get");
    if (status == IOTP_PLUGIN_OK) {
        host->free_buffer(call_ctx, got);
    }
    inserted = true;
    status = host->kv_insert_if_absent(call_ctx, KEY("coin"), KEY("v2"), &inserted);
    check(status == IOTP_PLUGIN_OK && !inserted, "insert_present");
    status = host->kv_get(call_ctx, KEY("coin"), &got);
    check(status == IOTP_PLUGIN_OK && buffer_is(got, "v1"), "get_after_insert");
    if (status == IOTP_PLUGIN_OK) {
        host->free_buffer(host->ctx, got); /* either context frees */
    }
    check(host->kv_delete(call_ctx, KEY("coin")) == IOTP_PLUGIN_OK, "delete");
    got.ptr = NULL;
    check(host->kv_get(call_ctx, KEY("coin"), &got) == IOTP_PLUGIN_NOT_FOUND && got.ptr == NULL,
          "get_deleted");
    check(host->kv_delete(call_ctx, KEY("coin")) == IOTP_PLUGIN_OK, "delete_absent");
    status = host->kv_insert_if_absent(call_ctx, KEY("spent"), KEY("1"), &spent);
    check(status == IOTP_PLUGIN_OK, "spent");

    check(host->kv_get(call_ctx, NULL, 3, &got) == IOTP_PLUGIN_ERR_BAD_ARGUMENT, "bad_key_null");
    check(host->kv_put(call_ctx, KEY("\xff"), KEY("x")) == IOTP_PLUGIN_ERR_BAD_ARGUMENT,
          "bad_key_utf8");
    check(host->kv_get(call_ctx, KEY("coin"), NULL) == IOTP_PLUGIN_ERR_BAD_ARGUMENT, "bad_out");
    check(host->log(call_ctx, 99, KEY("x")) == IOTP_PLUGIN_ERR_BAD_ARGUMENT, "bad_level");
    check(host->kv_delete(NULL, KEY("coin")) == IOTP_PLUGIN_ERR_BAD_ARGUMENT, "bad_ctx");
    check(host->kv_put(call_ctx, KEY("panic"), KEY("x")) == IOTP_PLUGIN_ERR_PANIC, "panic");

    check(host->log(call_ctx, IOTP_LOG_INFO, KEY("echo: call")) == IOTP_PLUGIN_OK, "log");
    now = host->now_unix_millis(call_ctx);
    check(now != INT64_MIN, "now");
    check(host->random(call_ctx, random_bytes, sizeof random_bytes) == IOTP_PLUGIN_OK, "random");
    check(host->random(call_ctx, NULL, 0) == IOTP_PLUGIN_OK, "random_empty");
    status = host->callback(call_ctx, KEY(callback_request), &callback_response);
    check(status == IOTP_PLUGIN_OK, "callback");

    append_str(&response, "echo:");
    append(&response, request, request_len);
    append_str(&response, spent ? "|spent=1" : "|spent=0");
    snprintf(number, sizeof number, "|now=%lld", (long long)now);
    append_str(&response, number);
    snprintf(number, sizeof number, "|random=%02x%02x%02x%02x", random_bytes[0], random_bytes[1],
             random_bytes[2], random_bytes[3]);
    append_str(&response, number);
    append_str(&response, "|callback=");
    if (status == IOTP_PLUGIN_OK) {
        append(&response, callback_response.ptr, callback_response.len);
        host->free_buffer(call_ctx, callback_response);
    }
    append_str(&response, "|failed=");
    append(&response, failures.ptr, failures.len);
    if (response.failed) {
        free(response.ptr);
        return IOTP_PLUGIN_ERR_INTERNAL;
    }
    out->ptr = response.ptr;
    out->len = response.len;
    out->cap = response.cap;
    return IOTP_PLUGIN_OK;
}

static IotpPluginTable table;

const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version, const IotpHostServices *host_services) {
    if (host_abi_version != IOTP_PLUGIN_ABI_VERSION || host_services == NULL
        || host_services->struct_size < sizeof(IotpHostServices)) {
        return NULL;
    }
    host = host_services;
    host->log(host->ctx, IOTP_LOG_INFO, KEY("echo: started"));
    if (host->kv_put(host->ctx, KEY("started"), KEY("yes")) != IOTP_PLUGIN_OK) {
        return NULL;
    }
    table.struct_size = sizeof(IotpPluginTable);
    table.abi_version = IOTP_PLUGIN_ABI_VERSION;
    table.kind = IOTP_PLUGIN_KIND_PAYMENT_SCHEME;
    /* Not thread-safe: `failures` is shared by all calls. */
    table.flags = 0;
    table.call = call;
    table.free_buffer = free_buffer;
    return &table;
}
