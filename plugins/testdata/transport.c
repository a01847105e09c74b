/*
 * A transport plugin. send answers "reply from <net location> to <message>" without any
 * network; serve hands its config, as a message, to the host's handler once, before it
 * returns, and logs the reply through the host context ("transport: reply <bytes>").
 */
#include <string.h>

#include "iotp_plugin.h"

const IotpPluginDescriptor iotp_plugin_descriptor = {
    sizeof(IotpPluginDescriptor), IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_TRANSPORT,
    "transport", "0.3.0", NULL,
};

static const IotpHostServices *host;

static void free_buffer(void *plugin_ctx, IotpBuffer buffer) {
    (void)plugin_ctx;
    free(buffer.ptr);
}

static IotpStatus send(void *plugin_ctx, void *call_ctx, const uint8_t *net_location,
                       size_t net_location_len, const uint8_t *message, size_t message_len,
                       IotpBuffer *out) {
    static const char from[] = "reply from ";
    static const char to[] = " to ";
    size_t len = sizeof from - 1 + net_location_len + sizeof to - 1 + message_len;
    uint8_t *reply = malloc(len);
    (void)plugin_ctx;
    (void)call_ctx;
    if (reply == NULL) {
        return IOTP_PLUGIN_ERR_INTERNAL;
    }
    if (net_location_len == 0) {
        free(reply);
        return IOTP_PLUGIN_ERR_IO;
    }
    memcpy(reply, from, sizeof from - 1);
    memcpy(reply + sizeof from - 1, net_location, net_location_len);
    memcpy(reply + sizeof from - 1 + net_location_len, to, sizeof to - 1);
    if (message_len > 0) {
        memcpy(reply + len - message_len, message, message_len);
    }
    out->ptr = reply;
    out->len = len;
    out->cap = len;
    return IOTP_PLUGIN_OK;
}

static IotpStatus serve(void *plugin_ctx, void *call_ctx, const uint8_t *config,
                        size_t config_len, IotpServeHandlerFn handler, void *handler_ctx) {
    static const char prefix[] = "transport: reply ";
    IotpBuffer reply = {NULL, 0, 0};
    IotpStatus status;
    uint8_t *line;
    (void)plugin_ctx;
    (void)call_ctx;
    if (handler == NULL) {
        return IOTP_PLUGIN_ERR_BAD_ARGUMENT;
    }
    status = handler(handler_ctx, config, config_len, &reply);
    if (status != IOTP_PLUGIN_OK) {
        return status;
    }
    line = malloc(sizeof prefix - 1 + reply.len);
    if (line != NULL) {
        memcpy(line, prefix, sizeof prefix - 1);
        if (reply.len > 0) {
            memcpy(line + sizeof prefix - 1, reply.ptr, reply.len);
        }
        host->log(host->ctx, IOTP_LOG_INFO, line, sizeof prefix - 1 + reply.len);
        free(line);
    }
    host->free_buffer(host->ctx, reply);
    return IOTP_PLUGIN_OK;
}

static IotpPluginTable table;

const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version, const IotpHostServices *host_services) {
    if (host_abi_version != IOTP_PLUGIN_ABI_VERSION || host_services == NULL
        || host_services->struct_size < sizeof(IotpHostServices)) {
        return NULL;
    }
    host = host_services;
    table.struct_size = sizeof(IotpPluginTable);
    table.abi_version = IOTP_PLUGIN_ABI_VERSION;
    table.kind = IOTP_PLUGIN_KIND_TRANSPORT;
    table.flags = IOTP_PLUGIN_FLAG_THREAD_SAFE;
    table.free_buffer = free_buffer;
    table.send = send;
    table.serve = serve;
    return &table;
}
