/*
 * merchant: a shop written in C on libiotp. It sells books over IOTP (RFC 2801) with the mock
 * payment scheme, and buys three of them as a Consumer to show a whole purchase:
 *
 *   Consumer node (C choice callback) --HTTP--> Merchant node (C offer and delivery callbacks)
 *        |                                       shop.example: Merchant + Delivery Handler
 *        +--------------------------HTTP-----> Payment Handler node (the runtime's, no callback)
 *                                                pay.example
 *
 * The three nodes run in this process, each from a TOML configuration string, talking HTTP
 * (RFC 2935) on loopback ports through the transport plugin. The Merchant's offer callback
 * prices the order from the pay URL (`/pay/books?qty=3`: 3 x 12.50 USD); its delivery callback
 * ships it. Any other pay URL has no offer (HTTP 404).
 *
 *   merchant PLUGIN_DIR DATA_DIR
 *
 * PLUGIN_DIR holds libiotp_scheme_mock.so and libiotp_transport_http.so; each node keeps its
 * SQLite store and log in DATA_DIR/<node>. Exit status 0 when the purchase completed.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iotp.h"

#define BOOK_PRICE_CENTS 1250

/* A free TCP port on 127.0.0.1 (free when asked; a node binds it moments later). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0
        && getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

/* ---- The Merchant's callbacks ------------------------------------------------------------ */

struct shop {
    atomic_long orders; /* order numbers; the offer callback may run on several threads */
};

/* Any failing setter aborts the offer: the detail says why. */
#define TRY(call)                                                                          \
    do {                                                                                   \
        if ((call) != IOTP_RESULT_OK) {                                                    \
            fprintf(stderr, "merchant: %s: %s\n", #call, iotp_error_detail());             \
            return false;                                                                  \
        }                                                                                  \
    } while (0)

/* The offer callback: prices `/pay/books?qty=N`. */
static bool price_order(void *userdata, const char *target, iotp_offer *offer) {
    struct shop *shop = userdata;
    const char *path = "/pay/books";
    if (strncmp(target, path, strlen(path)) != 0) {
        printf("merchant: no offer for %s\n", target);
        return false;
    }
    long qty = 1;
    const char *query = strstr(target, "qty=");
    if (query != NULL) {
        qty = strtol(query + 4, NULL, 10);
    }
    if (qty < 1 || qty > 100) {
        return false;
    }
    long cents = qty * BOOK_PRICE_CENTS;
    char amount[32], order[32], desc[64];
    snprintf(amount, sizeof amount, "%ld.%02ld", cents / 100, cents % 100);
    snprintf(order, sizeof order, "ORDER-%ld", atomic_fetch_add(&shop->orders, 1) + 1);
    snprintf(desc, sizeof desc, "%ld paperback books", qty);
    printf("merchant: %s: %s for %s USD\n", order, desc, amount);

    TRY(iotp_offer_set_order(offer, order, desc));
    TRY(iotp_offer_set_applicable_law(offer, "The laws of England and Wales"));
    TRY(iotp_offer_set_consumer(offer, "Consumer:jane/shop.example", "Jane Consumer"));
    TRY(iotp_offer_add_payment(offer, "Debit", "USD", amount, "Payment for books"));
    TRY(iotp_offer_set_delivery(offer, "Post", false, desc));
    TRY(iotp_offer_set_deliver_to(offer, "12 Meadow Lane", "Springfield", NULL, "62704", "US"));
    return true;
}

/* The delivery callback: the shop ships its own goods. */
static void ship(void *userdata, const iotp_delivery_request *request,
                 iotp_delivery_result *result) {
    (void)userdata;
    char tracking[64];
    snprintf(tracking, sizeof tracking, "TRACK-%s", request->order_identifier);
    printf("merchant: shipping %s (%s) by %s to %s: %s\n", request->order_identifier,
           request->order_desc, request->method, request->deliv_to, tracking);
    if (iotp_delivery_result_set(result, true, "Shipped", tracking,
                                 "Your books are on their way.") != IOTP_RESULT_OK) {
        fprintf(stderr, "merchant: %s\n", iotp_error_detail());
    }
}

static void log_line(void *userdata, iotp_log_level level, const char *message) {
    static const char *const names[] = {"?", "ERROR", "WARN", "INFO", "DEBUG"};
    fprintf(stderr, "[%s log] %s %s\n", (const char *)userdata, names[level <= 4 ? level : 0],
            message);
}

/* ---- The Consumer's callbacks ------------------------------------------------------------ */

/* Pays with the mock scheme's `approve` instrument. */
static bool choose(void *userdata, const iotp_offer_summary *offer, const char *direction,
                   const iotp_payment_option *options, size_t count, size_t *choice_out) {
    (void)userdata;
    size_t chosen = count;
    printf("consumer: %s from %s (%s); %zu way(s) to pay:\n", offer->short_desc, offer->merchant,
           direction, count);
    for (size_t i = 0; i < count; i++) {
        printf("consumer:   %s %s with %s %s\n", options[i].amount, options[i].currency,
               options[i].brand_id,
               options[i].instrument_id != NULL ? options[i].instrument_id : "-");
        if (options[i].instrument_id != NULL && strcmp(options[i].instrument_id, "approve") == 0) {
            chosen = i;
        }
    }
    *choice_out = chosen;
    return chosen < count;
}

/* ---- Configurations ---------------------------------------------------------------------- */

/*
 * The configurations, with ${DATA}, ${PLUGINS}, ${SHOP_PORT} and ${PAY_PORT} filled in by
 * expand(). Every role names where it takes requests, cancellations and errors; every
 * organisation but the Consumer has a legal name and address (RFC 2801 §7.6).
 */
static const char PAYMENT_HANDLER[] =
    "[node]\n"
    "name = \"payment-handler\"\n"
    "data_dir = \"${DATA}/payment-handler\"\n"
    "[engine.org]\n"
    "org_id = \"pay.example\"\n"
    "legal_name = \"Example Payments Ltd.\"\n"
    "short_desc = \"Example Payments\"\n"
    "[[engine.org.roles]]\n"
    "role = \"PaymentHandler\"\n"
    "msg_id_prefix = \"P\"\n"
    "net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/paymenthandler\"\n"
    "cancel_net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/cancelled\"\n"
    "error_net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/error\"\n"
    "[engine.org.legal_address]\n"
    "address_line1 = \"1 Example Street\"\n"
    "city_or_town = \"London\"\n"
    "postal_code = \"EC1A 1AA\"\n"
    "country = \"GB\"\n"
    "[plugins]\n"
    "dir = \"${PLUGINS}\"\n"
    "scheme = \"mock\"\n"
    "transport = \"http\"\n"
    "[transport]\n"
    "listeners = [{ addr = \"127.0.0.1:${PAY_PORT}\" }]\n";

static const char MERCHANT[] =
    "[node]\n"
    "name = \"merchant\"\n"
    "data_dir = \"${DATA}/merchant\"\n"
    "[engine]\n"
    "success_net_locn = \"http://127.0.0.1:${SHOP_PORT}/thanks\"\n"
    "[engine.org]\n"
    "org_id = \"shop.example\"\n"
    "legal_name = \"Example Shop Ltd.\"\n"
    "short_desc = \"Example Shop\"\n"
    "[[engine.org.roles]]\n"
    "role = \"Merchant\"\n"
    "msg_id_prefix = \"M\"\n"
    "net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/merchant\"\n"
    "cancel_net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/cancelled\"\n"
    "error_net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/error\"\n"
    "[[engine.org.roles]]\n"
    "role = \"DeliveryHandler\"\n"
    "msg_id_prefix = \"D\"\n"
    "net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/deliveryhandler\"\n"
    "cancel_net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/cancelled\"\n"
    "error_net_locn = \"http://127.0.0.1:${SHOP_PORT}/iotp/error\"\n"
    "[engine.org.legal_address]\n"
    "address_line1 = \"2 Example Street\"\n"
    "city_or_town = \"London\"\n"
    "postal_code = \"EC1A 2BB\"\n"
    "country = \"GB\"\n"
    "[[engine.partners]]\n"
    "org_id = \"pay.example\"\n"
    "legal_name = \"Example Payments Ltd.\"\n"
    "short_desc = \"Example Payments\"\n"
    "[[engine.partners.roles]]\n"
    "role = \"PaymentHandler\"\n"
    "msg_id_prefix = \"P\"\n"
    "net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/paymenthandler\"\n"
    "cancel_net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/cancelled\"\n"
    "error_net_locn = \"http://127.0.0.1:${PAY_PORT}/iotp/error\"\n"
    "[engine.partners.legal_address]\n"
    "address_line1 = \"1 Example Street\"\n"
    "city_or_town = \"London\"\n"
    "postal_code = \"EC1A 1AA\"\n"
    "country = \"GB\"\n"
    "[plugins]\n"
    "dir = \"${PLUGINS}\"\n"
    "scheme = \"mock\"\n"
    "transport = \"http\"\n"
    "[transport]\n"
    "listeners = [{ addr = \"127.0.0.1:${SHOP_PORT}\" }]\n"
    "startup_paths = [\"/pay\"]\n";

static const char CONSUMER[] =
    "[node]\n"
    "name = \"consumer\"\n"
    "data_dir = \"${DATA}/consumer\"\n"
    "[engine.org]\n"
    "org_id = \"Consumer:jane/shop.example\"\n"
    "short_desc = \"Jane Consumer\"\n"
    "[[engine.org.roles]]\n"
    "role = \"Consumer\"\n"
    "msg_id_prefix = \"C\"\n"
    "[plugins]\n"
    "dir = \"${PLUGINS}\"\n"
    "scheme = \"mock\"\n"
    "transport = \"http\"\n"
    "[transport]\n"
    "listeners = []\n";

/* Copies `text` to `out` (of `size` bytes) with the ${NAME}s of `names` replaced by the
 * matching `values`; returns false when it does not fit. */
static bool expand(const char *text, const char *const names[], const char *const values[],
                   size_t count, char *out, size_t size) {
    size_t n = 0;
    while (*text != '\0') {
        const char *value = NULL;
        size_t skip = 1;
        for (size_t i = 0; i < count && value == NULL; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(text, "${", 2) == 0 && strncmp(text + 2, names[i], len) == 0
                && text[2 + len] == '}') {
                value = values[i];
                skip = len + 3;
            }
        }
        size_t add = value != NULL ? strlen(value) : 1;
        if (n + add >= size) {
            return false;
        }
        memcpy(out + n, value != NULL ? value : text, add);
        n += add;
        text += skip;
    }
    out[n] = '\0';
    return true;
}

/* Opens a node from TOML text with the callbacks `setup` adds; NULL on failure. */
static iotp_node *open_node(const char *toml, void (*setup)(iotp_node_config *, void *),
                            void *userdata) {
    iotp_node_config *config = NULL;
    iotp_node *node = NULL;
    if (iotp_node_config_from_toml(toml, &config) != IOTP_RESULT_OK) {
        fprintf(stderr, "merchant: configuration: %s\n", iotp_error_detail());
        return NULL;
    }
    if (setup != NULL) {
        setup(config, userdata);
    }
    if (iotp_node_open(config, &node) != IOTP_RESULT_OK) {
        fprintf(stderr, "merchant: cannot open the node: %s\n", iotp_error_detail());
    }
    iotp_node_config_free(config); /* the node keeps what it needs */
    return node;
}

static void setup_merchant(iotp_node_config *config, void *shop) {
    iotp_node_config_set_offer_callback(config, price_order, shop);
    iotp_node_config_set_delivery_callback(config, ship, NULL);
    iotp_node_config_set_log_callback(config, log_line, "merchant");
}

static void setup_consumer(iotp_node_config *config, void *userdata) {
    iotp_node_config_set_consumer_callbacks(config, choose, NULL, userdata);
}

static void print_state(const char *who, iotp_node *node, const char *id, const char *role) {
    iotp_transaction *t = NULL;
    if (iotp_node_transaction(node, id, role, &t) != IOTP_RESULT_OK) {
        printf("%s: %s: %s\n", who, role, iotp_error_detail());
        return;
    }
    const char *state = iotp_transaction_process_state(t);
    printf("%s: as %s: %s, %s\n", who, iotp_transaction_role(t), iotp_transaction_phase(t),
           state != NULL ? state : "running");
    iotp_transaction_free(t);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: merchant PLUGIN_DIR DATA_DIR\n");
        return 2;
    }
    const char *plugins = argv[1], *data = argv[2];
    int ph_port = free_port(), shop_port = free_port();
    if (ph_port < 0 || shop_port < 0) {
        fprintf(stderr, "merchant: no free port\n");
        return 2;
    }
    printf("libiotp %s\n", iotp_version());

    char shop_port_text[8], pay_port_text[8];
    snprintf(shop_port_text, sizeof shop_port_text, "%d", shop_port);
    snprintf(pay_port_text, sizeof pay_port_text, "%d", ph_port);
    const char *const names[] = {"DATA", "PLUGINS", "SHOP_PORT", "PAY_PORT"};
    const char *const values[] = {data, plugins, shop_port_text, pay_port_text};
    static char toml[3][4096];
    const char *const templates[] = {PAYMENT_HANDLER, MERCHANT, CONSUMER};
    for (int i = 0; i < 3; i++) {
        if (!expand(templates[i], names, values, 4, toml[i], sizeof toml[i])) {
            fprintf(stderr, "merchant: paths too long\n");
            return 2;
        }
    }

    struct shop shop;
    atomic_init(&shop.orders, 0);
    int status = 1;
    iotp_node *ph = NULL, *merchant = NULL, *consumer = NULL;
    iotp_transaction *purchase = NULL;

    ph = open_node(toml[0], NULL, NULL);
    merchant = open_node(toml[1], setup_merchant, &shop);
    consumer = open_node(toml[2], setup_consumer, NULL);
    if (ph == NULL || merchant == NULL || consumer == NULL) {
        goto done;
    }

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/pay/books?qty=3", shop_port);
    printf("consumer: paying at %s\n", url);
    if (iotp_node_pay(consumer, url, 60000, &purchase) != IOTP_RESULT_OK) {
        fprintf(stderr, "merchant: the purchase failed: %s\n", iotp_error_detail());
        goto done;
    }
    const char *id = iotp_transaction_id(purchase);
    const char *code = iotp_transaction_completion_code(purchase);
    printf("consumer: %s %s: %s%s%s\n", iotp_transaction_type(purchase), id,
           iotp_transaction_process_state(purchase), code != NULL ? " " : "",
           code != NULL ? code : "");
    for (size_t r = 0; r < iotp_transaction_receipt_count(purchase); r++) {
        iotp_receipt receipt;
        iotp_transaction_receipt(purchase, r, &receipt);
        printf("consumer: receipt for %s (payment %s)\n", receipt.payment_ref,
               receipt.process_reference != NULL ? receipt.process_reference : "-");
        for (size_t p = 0; p < receipt.part_count; p++) {
            iotp_receipt_part part;
            iotp_transaction_receipt_part(purchase, r, p, &part);
            printf("consumer:   %s: %s\n", part.name != NULL ? part.name : "-", part.text);
        }
    }
    print_state("merchant", merchant, id, "Merchant");
    print_state("merchant", merchant, id, "DeliveryHandler");
    print_state("payment handler", ph, id, "PaymentHandler");
    if (iotp_transaction_end(purchase) == IOTP_END_COMPLETED) {
        status = 0;
    }

    /* The Consumer asks the Payment Handler how the payment stands (Baseline Inquiry). */
    iotp_status *payment = NULL;
    if (iotp_node_inquire(consumer, id, "Payment", 30000, &payment) == IOTP_RESULT_OK) {
        const char *ref = iotp_status_process_reference(payment);
        printf("consumer: inquiry: %s %s%s%s\n", iotp_status_type(payment),
               iotp_status_process_state(payment), ref != NULL ? ", payment " : "",
               ref != NULL ? ref : "");
        iotp_status_free(payment);
    } else {
        fprintf(stderr, "merchant: the inquiry failed: %s\n", iotp_error_detail());
        status = 1;
    }

    /* And whether the Merchant's IOTP server answers (Baseline Ping). */
    iotp_ping *pong = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/iotp/merchant", shop_port);
    if (iotp_node_ping(consumer, url, 30000, &pong) == IOTP_RESULT_OK) {
        printf("consumer: ping %s: %s", url, iotp_ping_status(pong));
        for (size_t i = 0; i < iotp_ping_responder_count(pong); i++) {
            printf("%s%s", i == 0 ? " from " : ", ", iotp_ping_responder(pong, i));
        }
        printf("\n");
        iotp_ping_free(pong);
    } else {
        fprintf(stderr, "merchant: the ping failed: %s\n", iotp_error_detail());
        status = 1;
    }

    /* No offer for this URL: the offer callback says so, the transport answers 404. */
    iotp_transaction *none = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/pay/cars", shop_port);
    iotp_result result = iotp_node_pay(consumer, url, 0, &none);
    printf("consumer: paying at %s: %s\n", url, iotp_result_message(result));
    if (result == IOTP_RESULT_OK) {
        iotp_transaction_free(none);
        status = 1;
    }

done:
    iotp_transaction_free(purchase);
    iotp_node_free(consumer);
    iotp_node_free(merchant);
    iotp_node_free(ph);
    printf("merchant: %s\n", status == 0 ? "purchase completed" : "FAILED");
    return status;
}
