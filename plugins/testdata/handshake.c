/*
 * A minimal payment-scheme plugin whose call echoes the request. Compiled by the tests with
 * -D switches, each breaking the ABI handshake in one way:
 *
 *   NO_DESCRIPTOR          no iotp_plugin_descriptor symbol
 *   NO_ENTRY               no iotp_plugin_entry symbol
 *   DESCRIPTOR_ABI=n       the descriptor's abi_version
 *   DESCRIPTOR_SIZE=n      the descriptor's struct_size
 *   DESCRIPTOR_KIND=n      the descriptor's kind
 *   NULL_NAME              the descriptor's name is NULL
 *   REFUSE                 the entry point returns NULL
 *   TABLE_ABI=n            the table's abi_version
 *   TABLE_SIZE=n           the table's struct_size
 *   TABLE_KIND=n           the table's kind
 *   NO_CALL                the table's call is NULL
 *   NAME="..."             the plugin's name (default "handshake")
 *   CLAIMS="..."           the descriptor's claims document (default NULL: none)
 *   ABORT_IN_ENTRY         the entry point aborts the process (proves it is never called)
 *
 * The entry point logs "handshake: entry" through the host context first, so tests can tell
 * whether it ran (it must not, for a descriptor the host refuses).
 */
#include <string.h>

#include "iotp_plugin.h"

#ifndef DESCRIPTOR_ABI
#define DESCRIPTOR_ABI IOTP_PLUGIN_ABI_VERSION
#endif
#ifndef DESCRIPTOR_SIZE
#define DESCRIPTOR_SIZE sizeof(IotpPluginDescriptor)
#endif
#ifndef DESCRIPTOR_KIND
#define DESCRIPTOR_KIND IOTP_PLUGIN_KIND_PAYMENT_SCHEME
#endif
#ifndef TABLE_ABI
#define TABLE_ABI IOTP_PLUGIN_ABI_VERSION
#endif
#ifndef TABLE_SIZE
#define TABLE_SIZE sizeof(IotpPluginTable)
#endif
#ifndef TABLE_KIND
#define TABLE_KIND IOTP_PLUGIN_KIND_PAYMENT_SCHEME
#endif
#ifndef NAME
#define NAME "handshake"
#endif
#ifndef CLAIMS
#define CLAIMS NULL
#endif

#ifndef NO_DESCRIPTOR
const IotpPluginDescriptor iotp_plugin_descriptor = {
    DESCRIPTOR_SIZE,
    DESCRIPTOR_ABI,
    DESCRIPTOR_KIND,
#ifdef NULL_NAME
    NULL,
#else
    NAME,
#endif
    "1.0.0",
    CLAIMS,
};
#endif

#if !defined(NO_ENTRY) && !defined(REFUSE)
static void free_buffer(void *plugin_ctx, IotpBuffer buffer) {
    (void)plugin_ctx;
    free(buffer.ptr);
}

static IotpStatus call(void *plugin_ctx, void *call_ctx, const uint8_t *request,
                       size_t request_len, IotpBuffer *out) {
    (void)plugin_ctx;
    (void)call_ctx;
    out->ptr = malloc(request_len + 1);
    if (out->ptr == NULL) {
        return IOTP_PLUGIN_ERR_INTERNAL;
    }
    if (request_len > 0) {
        memcpy(out->ptr, request, request_len);
    }
    out->len = request_len;
    out->cap = request_len + 1;
    return IOTP_PLUGIN_OK;
}

static IotpPluginTable table;
#endif

#ifndef NO_ENTRY
const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version, const IotpHostServices *host) {
    static const char entered[] = "handshake: entry";
#ifdef ABORT_IN_ENTRY
    abort();
#endif
    if (host != NULL && host->struct_size >= sizeof(IotpHostServices)) {
        host->log(host->ctx, IOTP_LOG_INFO, (const uint8_t *)entered, sizeof entered - 1);
    }
#ifdef REFUSE
    (void)host_abi_version;
    return NULL;
#else
    if (host_abi_version != IOTP_PLUGIN_ABI_VERSION) {
        return NULL;
    }
    table.struct_size = TABLE_SIZE;
    table.abi_version = TABLE_ABI;
    table.kind = TABLE_KIND;
    table.flags = 0;
    table.plugin_ctx = NULL;
#ifdef NO_CALL
    (void)call;
#else
    table.call = call;
#endif
    table.free_buffer = free_buffer;
    return &table;
#endif
}
#endif
