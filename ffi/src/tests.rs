//! The exports called as C calls them: results and their messages, misuse (NULL, dead and
//! wrong handles, bad strings, indexes) answered with errors and untouched outputs, reports,
//! and a node hosted through `iotp_node_handle` with an offer callback.
//!
//! The C examples run under valgrind in `tests/examples.rs`; the header's drift, its result
//! numbers and its compilation are checked in `tests/header.rs`.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use crate::answers::*;
use crate::callbacks::*;
use crate::handle::{guard, guard_or};
use crate::lent::*;
use crate::message::*;
use crate::node::*;
use crate::result::{Failure, iotp_error_detail, iotp_result, iotp_result_message};
use crate::transaction::*;

fn text<'a>(p: *const c_char) -> &'a str {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings that outlive this test's use of them.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

fn detail() -> String {
    text(iotp_error_detail()).to_owned()
}

/// A valid message of the golden corpus.
fn valid_message() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/valid/purchase-04-payment-request.xml");
    std::fs::read(path).unwrap()
}

fn read_report(document: &[u8]) -> *mut iotp_report {
    let mut report = null_mut();
    let r = iotp_report_read(document.as_ptr(), document.len(), &mut report);
    assert_eq!(r, iotp_result::Ok);
    report
}

#[test]
fn every_result_has_its_own_number_and_message() {
    let mut numbers = HashSet::new();
    let mut messages = HashSet::new();
    let unknown = text(iotp_result_message(u32::MAX));
    for &r in iotp_result::ALL {
        assert!(numbers.insert(r as u32), "{r:?} repeats a number");
        let message = text(iotp_result_message(r as u32));
        assert!(!message.is_empty() && message != unknown, "{r:?}");
        assert!(messages.insert(message), "{r:?} repeats a message");
        assert_eq!(iotp_result::from_number(r as u32), Some(r));
    }
    // Numbers between the results name none.
    for n in [1, 99, 105, 199, 299, 999, 7000] {
        assert_eq!(text(iotp_result_message(n)), "unknown result", "{n}");
    }
    assert_eq!(iotp_result::Ok as u32, 0);
}

#[test]
fn the_version_is_the_crates() {
    assert_eq!(text(crate::iotp_version()), env!("CARGO_PKG_VERSION"));
    let numbers: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [
            crate::IOTP_VERSION_MAJOR,
            crate::IOTP_VERSION_MINOR,
            crate::IOTP_VERSION_PATCH
        ]
    );
}

#[test]
fn a_valid_message_reads_with_its_canonical_form_and_tree() {
    let message = valid_message();
    let report = read_report(&message);
    assert!(iotp_report_is_valid(report));
    assert_eq!(iotp_report_problem_count(report), 0);
    assert!(text(iotp_report_transaction_id(report)).contains('@'));

    let mut xml = null_mut();
    assert_eq!(iotp_report_canonical(report, &mut xml), iotp_result::Ok);
    // SAFETY: `iotp_bytes_data` points to `iotp_bytes_len` bytes, then a NUL.
    let canonical =
        unsafe { std::slice::from_raw_parts(iotp_bytes_data(xml), iotp_bytes_len(xml)) };
    let again = read_report(canonical);
    assert!(iotp_report_is_valid(again));
    assert!(text(iotp_bytes_data(xml).cast()).starts_with("<?xml"));
    assert_eq!(iotp_bytes_free(xml), iotp_result::Ok);
    assert_eq!(iotp_report_free(again), iotp_result::Ok);
    assert_eq!(iotp_report_free(report), iotp_result::Ok);

    let mut tree = null_mut();
    assert_eq!(
        iotp_inspect(message.as_ptr(), message.len(), &mut tree),
        iotp_result::Ok
    );
    let tree_text = text(iotp_bytes_data(tree).cast());
    assert!(tree_text.starts_with("IotpMessage"), "{tree_text}");
    assert!(
        tree_text.contains(" → "),
        "references resolved: {tree_text}"
    );
    assert_eq!(iotp_bytes_free(tree), iotp_result::Ok);
}

#[test]
fn problems_carry_code_severity_and_location() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/invalid/attmissing-org-orgid.xml");
    let document = std::fs::read(path).unwrap();
    let report = read_report(&document);
    assert!(!iotp_report_is_valid(report));
    let count = iotp_report_problem_count(report);
    assert!(count >= 1);
    let mut problem = std::mem::MaybeUninit::<iotp_problem>::uninit();
    assert_eq!(
        iotp_report_problem(report, 0, problem.as_mut_ptr()),
        iotp_result::Ok
    );
    // SAFETY: written by the successful call.
    let problem = unsafe { problem.assume_init() };
    assert_eq!(text(problem.code), "AttMissing");
    assert_eq!(text(problem.severity), "HardError");
    assert_eq!(text(problem.element), "Org");
    assert_eq!(text(problem.attribute), "OrgId");
    assert!(problem.line > 0);
    assert!(!text(problem.message).is_empty());

    // Past the end: an error, and the output untouched.
    let mut untouched = problem;
    untouched.line = 4242;
    assert_eq!(
        iotp_report_problem(report, count, &mut untouched),
        iotp_result::IndexOutOfRange
    );
    assert_eq!(untouched.line, 4242);
    // An invalid message has no canonical form; the output stays NULL.
    let mut xml = null_mut();
    assert_eq!(
        iotp_report_canonical(report, &mut xml),
        iotp_result::InvalidMessage
    );
    assert!(xml.is_null());
    assert_eq!(iotp_report_free(report), iotp_result::Ok);

    let not_xml = b"<IotpMessage";
    let report = read_report(not_xml);
    assert!(!iotp_report_is_valid(report));
    assert!(iotp_report_transaction_id(report).is_null());
    assert_eq!(
        iotp_report_canonical(report, &mut xml),
        iotp_result::NotAMessage
    );
    let mut tree = null_mut();
    assert_eq!(
        iotp_inspect(not_xml.as_ptr(), not_xml.len(), &mut tree),
        iotp_result::NotWellFormed
    );
    assert!(tree.is_null());
    assert_eq!(iotp_report_free(report), iotp_result::Ok);
}

#[test]
fn null_pointers_are_refused_and_outputs_left_alone() {
    let message = valid_message();
    assert_eq!(
        iotp_report_read(message.as_ptr(), message.len(), null_mut()),
        iotp_result::NullParameter
    );
    assert!(detail().contains("report_out is NULL"), "{}", detail());
    let mut report = null_mut();
    assert_eq!(
        iotp_report_read(null(), 10, &mut report),
        iotp_result::NullParameter
    );
    assert!(report.is_null());
    // NULL with length 0 is the empty document: read, and invalid.
    assert_eq!(iotp_report_read(null(), 0, &mut report), iotp_result::Ok);
    assert!(!iotp_report_is_valid(report));
    assert_eq!(iotp_report_free(report), iotp_result::Ok);

    // Accessors answer their fallback.
    assert!(!iotp_report_is_valid(null()));
    assert_eq!(iotp_report_problem_count(null()), 0);
    assert!(iotp_report_transaction_id(null()).is_null());
    assert!(iotp_bytes_data(null()).is_null());
    assert_eq!(iotp_bytes_len(null()), 0);
    assert!(iotp_transaction_id(null()).is_null());
    assert_eq!(iotp_transaction_end(null()), iotp_end::Running);
    assert_eq!(iotp_transaction_receipt_count(null()), 0);

    // Frees accept NULL.
    assert_eq!(iotp_report_free(null_mut()), iotp_result::Ok);
    assert_eq!(iotp_bytes_free(null_mut()), iotp_result::Ok);
    assert_eq!(iotp_node_config_free(null_mut()), iotp_result::Ok);
    assert_eq!(iotp_node_free(null_mut()), iotp_result::Ok);
    assert_eq!(iotp_transaction_free(null_mut()), iotp_result::Ok);

    let mut config = null_mut();
    assert_eq!(
        iotp_node_config_from_toml(null(), &mut config),
        iotp_result::NullParameter
    );
    assert!(config.is_null());
    let mut node = null_mut();
    assert_eq!(
        iotp_node_open(null(), &mut node),
        iotp_result::NullParameter
    );
    assert!(node.is_null());
    let mut reply = null_mut();
    assert_eq!(
        iotp_node_handle(null(), message.as_ptr(), message.len(), &mut reply),
        iotp_result::NullParameter
    );
    let mut transaction = null_mut();
    assert_eq!(
        iotp_node_pay(null(), c"http://x".as_ptr(), 0, &mut transaction),
        iotp_result::NullParameter
    );
    assert_eq!(
        iotp_node_cancel(null(), c"x".as_ptr()),
        iotp_result::NullParameter
    );
    assert_eq!(
        iotp_offer_set_order(null_mut(), c"o".as_ptr(), c"d".as_ptr()),
        iotp_result::NullParameter
    );
    assert_eq!(
        iotp_delivery_result_set(null_mut(), true, null(), null(), null()),
        iotp_result::NullParameter
    );
    assert!(reply.is_null() && transaction.is_null());
}

#[test]
fn dead_and_wrong_handles_are_refused() {
    let message = valid_message();
    let report = read_report(&message);
    assert_eq!(iotp_report_free(report), iotp_result::Ok);
    // A second free, and any use after the free.
    assert_eq!(iotp_report_free(report), iotp_result::InvalidHandle);
    assert!(detail().contains("not a live iotp_report"), "{}", detail());
    assert!(!iotp_report_is_valid(report));
    assert_eq!(iotp_report_problem_count(report), 0);

    // A handle of another type.
    let report = read_report(&message);
    let mut xml = null_mut();
    assert_eq!(iotp_report_canonical(report, &mut xml), iotp_result::Ok);
    assert_eq!(
        iotp_report_free(xml.cast::<iotp_report>()),
        iotp_result::WrongHandleKind
    );
    assert!(
        detail().contains("is an iotp_bytes, not an iotp_report"),
        "{}",
        detail()
    );
    assert_eq!(
        iotp_bytes_free(report.cast::<iotp_bytes>()),
        iotp_result::WrongHandleKind
    );
    assert_eq!(
        iotp_node_free(report.cast::<iotp_node>()),
        iotp_result::WrongHandleKind
    );
    assert_eq!(
        iotp_transaction_free(report.cast::<iotp_transaction>()),
        iotp_result::WrongHandleKind
    );
    assert_eq!(
        iotp_offer_set_short_desc(report.cast::<iotp_offer>(), c"x".as_ptr()),
        iotp_result::WrongHandleKind
    );
    // Both are still alive and usable.
    assert!(iotp_report_is_valid(report));
    assert!(iotp_bytes_len(xml) > 0);
    assert_eq!(iotp_bytes_free(xml), iotp_result::Ok);
    assert_eq!(iotp_report_free(report), iotp_result::Ok);

    // A pointer the library never made is never read.
    let mut stack = 0u64;
    let fake = std::ptr::from_mut(&mut stack).cast::<iotp_report>();
    assert_eq!(iotp_report_free(fake), iotp_result::InvalidHandle);
    assert!(!iotp_report_is_valid(fake));
}

#[test]
fn strings_must_be_utf8() {
    let latin1 = CString::new(vec![b'[', 0xe9, b']']).unwrap();
    let mut config = null_mut();
    assert_eq!(
        iotp_node_config_from_toml(latin1.as_ptr(), &mut config),
        iotp_result::InvalidParameter
    );
    assert!(detail().contains("toml is not UTF-8"), "{}", detail());
    assert!(config.is_null());
}

#[test]
fn failures_are_caught_panics_included() {
    assert_eq!(guard(|| Ok(())), iotp_result::Ok);
    assert_eq!(
        guard(|| Err(Failure::new(iotp_result::Refused, "nope"))),
        iotp_result::Refused
    );
    assert!(detail().ends_with(": nope"), "{}", detail());
    assert_eq!(guard(|| panic!("boom")), iotp_result::Panic);
    assert!(detail().contains("boom"), "{}", detail());
    assert_eq!(guard_or(7, || panic!("boom")), 7);
    // Each thread has its own detail.
    let other = std::thread::spawn(|| iotp_error_detail().is_null())
        .join()
        .unwrap();
    assert!(other);
}

const PAYMENT_HANDLER: &str = r#"
[node]
name = "ph"
data_dir = "DATA"
memory_store = true
[engine.org]
org_id = "pay.example"
short_desc = "Example Payments"
[[engine.org.roles]]
role = "PaymentHandler"
msg_id_prefix = "P"
net_locn = "http://127.0.0.1:9/iotp"
"#;

#[test]
fn configurations_name_the_setting_at_fault() {
    let mut config = null_mut();
    let bad = CString::new(PAYMENT_HANDLER.replace("\"PaymentHandler\"", "\"Bank\"")).unwrap();
    assert_eq!(
        iotp_node_config_from_toml(bad.as_ptr(), &mut config),
        iotp_result::Config
    );
    assert!(
        detail().contains("engine.org.roles[0].role"),
        "{}",
        detail()
    );
    assert!(config.is_null());

    let missing = c"/nonexistent/iotp/node.toml";
    assert_eq!(
        iotp_node_config_from_file(missing.as_ptr(), &mut config),
        iotp_result::Config
    );
    assert!(detail().contains("cannot read"), "{}", detail());

    let good = CString::new(PAYMENT_HANDLER).unwrap();
    assert_eq!(
        iotp_node_config_from_toml(good.as_ptr(), &mut config),
        iotp_result::Ok
    );
    // A plugin name that would leave the plugin directory is refused; the setting is kept.
    assert_eq!(
        iotp_node_config_set_plugins(config, null(), c"../evil".as_ptr(), null()),
        iotp_result::Config
    );
    assert!(detail().contains("plugins.scheme"), "{}", detail());
    // Opening a Payment Handler without a scheme fails, naming the setting.
    let mut node = null_mut();
    let dir = tempfile::tempdir().unwrap();
    let dir_c = CString::new(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(
        iotp_node_config_set_data_dir(config, dir_c.as_ptr()),
        iotp_result::Ok
    );
    assert_eq!(iotp_node_open(config, &mut node), iotp_result::Config);
    assert!(detail().contains("plugins.scheme"), "{}", detail());
    assert!(node.is_null());
    // A scheme that is not there.
    assert_eq!(
        iotp_node_config_set_plugins(config, dir_c.as_ptr(), c"nothere".as_ptr(), null()),
        iotp_result::Ok
    );
    assert_eq!(iotp_node_open(config, &mut node), iotp_result::Plugin);
    assert!(detail().contains("libiotp_scheme_nothere"), "{}", detail());
    assert_eq!(iotp_node_config_free(config), iotp_result::Ok);
    assert_eq!(iotp_node_config_free(config), iotp_result::InvalidHandle);
}

/// The directory of the mock scheme plugin, built once.
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let scheme =
            iotp_plugin_host::testing::build_rust_plugin(iotp_plugin_host::testing::MOCK_SCHEME)
                .unwrap_or_else(|e| panic!("{e}"));
        scheme.parent().unwrap().to_path_buf()
    })
}

const MERCHANT: &str = r#"
[node]
name = "merchant"
data_dir = "DATA"
[engine]
success_net_locn = "http://127.0.0.1:9/thanks"
[engine.org]
org_id = "shop.example"
legal_name = "Example Shop Ltd."
short_desc = "Example Shop"
[[engine.org.roles]]
role = "Merchant"
msg_id_prefix = "M"
net_locn = "http://127.0.0.1:9/iotp/merchant"
cancel_net_locn = "http://127.0.0.1:9/iotp/cancelled"
error_net_locn = "http://127.0.0.1:9/iotp/error"
[engine.org.legal_address]
address_line1 = "2 Example Street"
city_or_town = "London"
postal_code = "EC1A 2BB"
country = "GB"
[[engine.partners]]
org_id = "pay.example"
legal_name = "Example Payments Ltd."
short_desc = "Example Payments"
[[engine.partners.roles]]
role = "PaymentHandler"
msg_id_prefix = "P"
net_locn = "http://127.0.0.1:9/iotp/paymenthandler"
cancel_net_locn = "http://127.0.0.1:9/iotp/cancelled"
error_net_locn = "http://127.0.0.1:9/iotp/error"
[engine.partners.legal_address]
address_line1 = "1 Example Street"
city_or_town = "London"
postal_code = "EC1A 1AA"
country = "GB"
[plugins]
scheme = "mock"
"#;

/// What the offer callback saw and keeps.
#[derive(Default)]
struct Shop {
    targets: std::sync::Mutex<Vec<String>>,
    lent: std::sync::Mutex<usize>,
    logged: std::sync::Mutex<Vec<String>>,
}

extern "C" fn price(userdata: *mut c_void, target: *const c_char, offer: *mut iotp_offer) -> bool {
    // SAFETY: `userdata` is the `Shop` the test passed, alive for the node's life.
    let shop = unsafe { &*userdata.cast::<Shop>() };
    let target = text(target).to_owned();
    shop.targets.lock().unwrap().push(target.clone());
    *shop.lent.lock().unwrap() = offer as usize;
    if !target.starts_with("/pay/books") {
        return false;
    }
    // A bad value is refused and changes nothing.
    assert_eq!(
        iotp_offer_add_payment(
            offer,
            c"Sideways".as_ptr(),
            c"USD".as_ptr(),
            c"1".as_ptr(),
            c"x".as_ptr()
        ),
        iotp_result::InvalidParameter
    );
    assert_eq!(
        iotp_offer_set_trans_type(offer, c"BaselinePing".as_ptr()),
        iotp_result::InvalidParameter
    );
    assert_eq!(
        iotp_offer_set_valid_for(offer, 0),
        iotp_result::InvalidParameter
    );
    let ok = [
        iotp_offer_set_order(offer, c"ORDER-7".as_ptr(), c"Seven books".as_ptr()),
        iotp_offer_set_applicable_law(offer, c"English law".as_ptr()),
        iotp_offer_set_consumer(
            offer,
            c"Consumer:jane/shop.example".as_ptr(),
            c"Jane".as_ptr(),
        ),
        iotp_offer_add_payment(
            offer,
            c"Debit".as_ptr(),
            c"USD".as_ptr(),
            c"87.50".as_ptr(),
            c"Seven books".as_ptr(),
        ),
        iotp_offer_set_valid_for(offer, 600),
    ];
    ok.iter().all(|r| *r == iotp_result::Ok)
}

extern "C" fn record_log(userdata: *mut c_void, level: iotp_log_level, message: *const c_char) {
    // SAFETY: `userdata` is the `Shop` the test passed, alive for the node's life.
    let shop = unsafe { &*userdata.cast::<Shop>() };
    shop.logged
        .lock()
        .unwrap()
        .push(format!("{level:?} {}", text(message)));
}

fn startup(target: &str) -> Vec<u8> {
    format!(
        r#"<IotpStartupRequest xmlns="{}" Method="GET" Target="{target}"/>"#,
        iotp_runtime::node::STARTUP_NAMESPACE
    )
    .into_bytes()
}

#[test]
fn a_c_server_hosts_a_merchant_through_handle() {
    let dir = tempfile::tempdir().unwrap();
    let toml = MERCHANT.replace("DATA", dir.path().to_str().unwrap());
    let toml = CString::new(toml).unwrap();
    let plugins = CString::new(plugin_dir().to_str().unwrap()).unwrap();
    let shop = Shop::default();
    let shop_ptr = std::ptr::from_ref(&shop).cast_mut().cast::<c_void>();

    let mut config = null_mut();
    assert_eq!(
        iotp_node_config_from_toml(toml.as_ptr(), &mut config),
        iotp_result::Ok
    );
    assert_eq!(
        iotp_node_config_set_plugins(config, plugins.as_ptr(), null(), null()),
        iotp_result::Ok
    );
    assert_eq!(
        iotp_node_config_set_offer_callback(config, Some(price), shop_ptr),
        iotp_result::Ok
    );
    assert_eq!(
        iotp_node_config_set_log_callback(config, Some(record_log), shop_ptr),
        iotp_result::Ok
    );
    let mut node = null_mut();
    assert_eq!(iotp_node_open(config, &mut node), iotp_result::Ok);
    assert_eq!(iotp_node_config_free(config), iotp_result::Ok);

    // The offer callback prices the order; the reply is the Merchant's first message.
    let request = startup("/pay/books?qty=7");
    let mut reply = null_mut();
    assert_eq!(
        iotp_node_handle(node, request.as_ptr(), request.len(), &mut reply),
        iotp_result::Ok,
        "{}",
        detail()
    );
    // SAFETY: `iotp_bytes_data` points to `iotp_bytes_len` bytes.
    let tpo = unsafe { std::slice::from_raw_parts(iotp_bytes_data(reply), iotp_bytes_len(reply)) };
    let report = read_report(tpo);
    assert!(
        iotp_report_is_valid(report),
        "{}",
        String::from_utf8_lossy(tpo)
    );
    let xml = String::from_utf8_lossy(tpo);
    assert!(
        xml.contains("OrderIdentifier=\"ORDER-7\"") && xml.contains("87.50"),
        "{xml}"
    );
    let id = CString::new(text(iotp_report_transaction_id(report))).unwrap();
    assert_eq!(iotp_report_free(report), iotp_result::Ok);
    assert_eq!(iotp_bytes_free(reply), iotp_result::Ok);

    // The offer handle was lent for the callback only.
    let lent = *shop.lent.lock().unwrap() as *mut iotp_offer;
    assert_eq!(
        iotp_offer_set_short_desc(lent, c"late".as_ptr()),
        iotp_result::InvalidHandle
    );

    // The Merchant's side of the transaction, as the store has it.
    let mut t = null_mut();
    assert_eq!(
        iotp_node_transaction(node, id.as_ptr(), c"Merchant".as_ptr(), &mut t),
        iotp_result::Ok
    );
    assert_eq!(text(iotp_transaction_id(t)), id.to_str().unwrap());
    assert_eq!(text(iotp_transaction_role(t)), "Merchant");
    // Brand independent: the Merchant's part ends with the TPO and Offer Response.
    assert_eq!(iotp_transaction_end(t), iotp_end::Completed);
    assert_eq!(text(iotp_transaction_process_state(t)), "CompletedOk");
    assert_eq!(text(iotp_transaction_phase(t)), "OfferDone");
    assert!(iotp_transaction_type(t).is_null());
    let mut receipt = std::mem::MaybeUninit::<iotp_receipt>::uninit();
    assert_eq!(
        iotp_transaction_receipt(t, 0, receipt.as_mut_ptr()),
        iotp_result::IndexOutOfRange
    );
    assert_eq!(iotp_transaction_free(t), iotp_result::Ok);
    let mut none = null_mut();
    assert_eq!(
        iotp_node_transaction(node, id.as_ptr(), c"Consumer".as_ptr(), &mut none),
        iotp_result::NotFound
    );
    assert_eq!(
        iotp_node_transaction(node, id.as_ptr(), c"Bank".as_ptr(), &mut none),
        iotp_result::InvalidParameter
    );
    assert!(none.is_null());

    // No offer: 404; an unreadable startup document: 400.
    let request = startup("/pay/cars");
    assert_eq!(
        iotp_node_handle(node, request.as_ptr(), request.len(), &mut reply),
        iotp_result::NotFound
    );
    let broken = br#"<IotpStartupRequest xmlns="urn:iotp-rs:http-startup" Target="#;
    assert_eq!(
        iotp_node_handle(node, broken.as_ptr(), broken.len(), &mut reply),
        iotp_result::BadDocument
    );
    // A broken IOTP message is answered (an Error Block), not refused.
    let garbage = b"<IotpMessage>";
    assert_eq!(
        iotp_node_handle(node, garbage.as_ptr(), garbage.len(), &mut reply),
        iotp_result::Ok
    );
    assert_eq!(iotp_bytes_free(reply), iotp_result::Ok);
    // Paying needs a transport.
    let mut t = null_mut();
    assert_eq!(
        iotp_node_pay(node, c"http://127.0.0.1:9/pay/books".as_ptr(), 1000, &mut t),
        iotp_result::NoTransport
    );
    assert!(t.is_null());
    // So does a ping; an inquiry names Offer, Payment or Delivery, and a known transaction.
    let mut ping = null_mut();
    assert_eq!(
        iotp_node_ping(node, c"http://127.0.0.1:9/iotp".as_ptr(), 1000, &mut ping),
        iotp_result::NoTransport
    );
    assert!(ping.is_null());
    let mut status = null_mut();
    assert_eq!(
        iotp_node_inquire(node, id.as_ptr(), c"Refund".as_ptr(), 1000, &mut status),
        iotp_result::InvalidParameter
    );
    assert!(
        detail().contains("not Offer, Payment or Delivery"),
        "{}",
        detail()
    );
    assert_eq!(
        iotp_node_inquire(
            node,
            c"nobody@nowhere".as_ptr(),
            c"Offer".as_ptr(),
            1000,
            &mut status
        ),
        iotp_result::Engine,
        "{}",
        detail()
    );
    assert_eq!(
        iotp_node_inquire(node, id.as_ptr(), c"Offer".as_ptr(), 1000, null_mut()),
        iotp_result::NullParameter
    );
    assert!(status.is_null());
    // Answers' accessors on NULL handles.
    assert!(iotp_status_type(null()).is_null());
    assert!(iotp_status_process_state(null()).is_null());
    assert!(iotp_ping_status(null()).is_null());
    assert!(iotp_ping_responder(null(), 0).is_null());
    assert_eq!(iotp_ping_responder_count(null()), 0);
    assert_eq!(iotp_status_free(null_mut()), iotp_result::Ok);
    assert_eq!(iotp_ping_free(null_mut()), iotp_result::Ok);

    assert_eq!(iotp_node_free(node), iotp_result::Ok);
    assert_eq!(iotp_node_free(node), iotp_result::InvalidHandle);
    assert_eq!(
        *shop.targets.lock().unwrap(),
        ["/pay/books?qty=7", "/pay/cars"]
    );
    let logged = shop.logged.lock().unwrap();
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("Info started: shop.example")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.contains("/pay/cars: no such offer")),
        "{logged:?}"
    );
}

#[test]
fn every_result_of_the_header_is_known_here() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/iotp.h"))
            .unwrap();
    let numbers: Vec<u32> = header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("IOTP_RESULT_"))
        .filter_map(|l| l.trim_end_matches(',').split_once(" = "))
        .map(|(_, n)| n.parse().unwrap())
        .collect();
    let ours: Vec<u32> = iotp_result::ALL.iter().map(|r| *r as u32).collect();
    assert_eq!(numbers, ours);
}

#[test]
fn a_closed_gate_waits_for_running_callbacks_and_lets_none_in() {
    let gate = std::sync::Arc::new(crate::callbacks::Gate::default());
    let pass = gate.enter().unwrap();
    let closer = {
        let gate = gate.clone();
        std::thread::spawn(move || gate.close())
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        !closer.is_finished(),
        "close waits for the running callback"
    );
    drop(pass);
    closer.join().unwrap();
    assert!(gate.enter().is_none());
}
