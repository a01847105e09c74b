/*
 * A payment-scheme plugin whose call answers every request with the same bytes, or fails with
 * the same status: the host must turn whatever it gets into an error of that payment, and go
 * on. Compiled by the tests with -D switches:
 *
 *   ANSWER="..."    the response bytes (default: a ContinueProcessResponse, End, no data)
 *   STATUS=n        call returns status n and writes nothing
 *   BAD_BUFFER      call returns OK with a NULL buffer of 5 bytes
 *   CLAIMS="..."    the descriptor's claims document (default: a small valid one); CLAIMS=NULL
 *                   for none
 *   KIND=n          the descriptor's and table's kind (default: a payment scheme)
 */
#include <stdlib.h>
#include <string.h>

#include "iotp_plugin.h"

#ifndef ANSWER
#define ANSWER                                                                             \
    "<IotpPaymentApiResponse xmlns='http://www.iotp.org/2000/08/PaymentAPI'>"              \
    "<ContinueProcessResponse ContStatus='End'/></IotpPaymentApiResponse>"
#endif
#ifndef STATUS
#define STATUS IOTP_PLUGIN_OK
#endif
#ifndef CLAIMS
#define CLAIMS                                                                             \
    "<IotpPluginClaims xmlns='urn:iotp-rs:plugin-claims:1' SoftwareId='answers 1.0'>"      \
    "<Role Name='PaymentHandler'/><Protocol Id='x-answers'/><Brand Id='x-answers'/>"       \
    "<Direction Name='Debit'/><Call Name='ContinueProcess'/></IotpPluginClaims>"
#endif
#ifndef KIND
#define KIND IOTP_PLUGIN_KIND_PAYMENT_SCHEME
#endif

const IotpPluginDescriptor iotp_plugin_descriptor = {
    sizeof(IotpPluginDescriptor), IOTP_PLUGIN_ABI_VERSION, KIND, "answers", "1.0.0", CLAIMS,
};

static IotpStatus call(void *plugin_ctx, void *call_ctx, const uint8_t *request,
                       size_t request_len, IotpBuffer *out) {
    static const char answer[] = ANSWER;
    (void)plugin_ctx;
    (void)call_ctx;
    (void)request;
    (void)request_len;
    if (STATUS != IOTP_PLUGIN_OK) {
        return STATUS;
    }
#ifdef BAD_BUFFER
    (void)answer;
    out->ptr = NULL;
    out->len = 5;
    out->cap = 0;
    return IOTP_PLUGIN_OK;
#else
    out->len = sizeof(answer) - 1;
    out->cap = out->len;
    out->ptr = malloc(out->len == 0 ? 1 : out->len);
    if (out->ptr == NULL) {
        return IOTP_PLUGIN_ERR_INTERNAL;
    }
    memcpy(out->ptr, answer, out->len);
    return IOTP_PLUGIN_OK;
#endif
}

static IotpStatus send_message(void *plugin_ctx, void *call_ctx, const uint8_t *net_location,
                       size_t net_location_len, const uint8_t *message, size_t message_len,
                       IotpBuffer *out) {
    (void)plugin_ctx;
    (void)call_ctx;
    (void)net_location;
    (void)net_location_len;
    (void)message;
    (void)message_len;
    (void)out;
    return IOTP_PLUGIN_ERR_IO;
}

static void free_buffer(void *plugin_ctx, IotpBuffer buffer) {
    (void)plugin_ctx;
    free(buffer.ptr);
}

static const IotpPluginTable table = {
    sizeof(IotpPluginTable), IOTP_PLUGIN_ABI_VERSION, KIND, IOTP_PLUGIN_FLAG_THREAD_SAFE, NULL,
    call, free_buffer, send_message, NULL,
};

const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version, const IotpHostServices *host) {
    (void)host;
    return host_abi_version == IOTP_PLUGIN_ABI_VERSION ? &table : NULL;
}
