//! Building outgoing messages: IDs (§3.4), the Transaction Reference Block, Status and Error
//! components, and UTC time stamps.

use crate::msg::IotpMessage;
use crate::msg::codes::*;
use crate::msg::model::*;

/// Assigns the IDs of one outgoing message: the message ID (`M3`) and, for every block and
/// component first used in it, `M3.1`, `M3.2`, … (§3.4.2).
pub(crate) struct Ids {
    msg_id: String,
    next: u32,
}

impl Ids {
    pub(crate) fn new(msg_id: String) -> Self {
        Ids { msg_id, next: 0 }
    }

    /// The message ID.
    pub(crate) fn msg_id(&self) -> &str {
        &self.msg_id
    }

    /// A fresh block or component ID.
    pub(crate) fn next(&mut self) -> String {
        self.next += 1;
        let mut id = String::with_capacity(self.msg_id.len() + 4);
        id.push_str(&self.msg_id);
        id.push('.');
        push_decimal(&mut id, u64::from(self.next));
        id
    }
}

/// The header of an outgoing message.
pub(crate) struct Header<'a> {
    /// The transaction's `TransId` component (the same in every message), or `None` to make a
    /// new one with these values.
    pub trans_id: Option<&'a TransactionId>,
    pub new_trans: Option<(&'a str, TransactionType, &'a str)>,
    pub resp_iotp_msg: Option<&'a str>,
    pub sender_trading_role_ref: Option<&'a str>,
    pub lang: &'a str,
    pub software_id: &'a str,
    pub now: i64,
}

/// Starts a message: its TransRefBlk, with the TransId copied or created.
pub(crate) fn message(ids: &mut Ids, h: Header<'_>) -> IotpMessage {
    let trans_ref_id = ids.next();
    let transaction_id = match (h.trans_id, h.new_trans) {
        (Some(t), _) => t.clone(),
        (None, Some((iotp_trans_id, trans_type, stamp))) => TransactionId {
            id: ids.next(),
            version: "1.0".into(),
            iotp_trans_id: iotp_trans_id.into(),
            iotp_trans_type: trans_type,
            trans_time_stamp: stamp.into(),
        },
        (None, None) => TransactionId::default(),
    };
    IotpMessage {
        trans_ref: TransactionReferenceBlock {
            id: trans_ref_id,
            transaction_id,
            message_id: MessageId {
                id: ids.msg_id().to_owned(),
                resp_iotp_msg: h.resp_iotp_msg.map(str::to_owned),
                lang: h.lang.into(),
                sender_trading_role_ref: h.sender_trading_role_ref.map(str::to_owned),
                software_id: h.software_id.into(),
                time_stamp: Some(format_timestamp(h.now)),
                ..MessageId::default()
            },
            related_to: Vec::new(),
            ..Default::default()
        },
        ..IotpMessage::default()
    }
}

/// A Status component (one argument per attribute).
#[allow(clippy::too_many_arguments)]
pub(crate) fn status(
    ids: &mut Ids,
    lang: &str,
    status_type: StatusType,
    el_ref: Option<&str>,
    state: ProcessState,
    code: Option<CompletionCode>,
    process_reference: Option<&str>,
    desc: Option<&str>,
) -> Status {
    Status {
        id: ids.next(),
        lang: lang.into(),
        status_type,
        el_ref: el_ref.map(str::to_owned),
        process_state: state,
        completion_code: code,
        process_reference: process_reference.map(str::to_owned),
        status_desc: desc.map(str::to_owned),
    }
}

/// An Error Component with one location.
pub(crate) fn error_component(
    ids: &mut Ids,
    lang: &str,
    code: ErrorCode,
    severity: Severity,
    desc: &str,
    location: ErrorLocation,
    min_retry_secs: Option<u32>,
) -> ErrorComponent {
    ErrorComponent {
        id: ids.next(),
        lang: lang.into(),
        error_code: code,
        error_desc: desc.into(),
        severity,
        min_retry_secs: min_retry_secs.map(|s| s.to_string()),
        sw_vendor_error_ref: None,
        error_locations: vec![location],
        packaged_contents: Vec::new(),
        ..Default::default()
    }
}

/// Formats Unix milliseconds as the RFC's UTC form, `CCYY-MM-DDTHH:MM:SS.sssZ`.
pub fn format_timestamp(unix_millis: i64) -> String {
    let secs = unix_millis.div_euclid(1000);
    let millis = unix_millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let Ok(year @ 0..=9999) = u32::try_from(y) else {
        // Outside four digits (never for a clock of this era): what `format!` makes of it.
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        );
    };
    // Every field below fits its width: `rem` and `millis` are remainders.
    let rem = rem as u32;
    let fields = [
        (year, 4, b'-'),
        (m, 2, b'-'),
        (d, 2, b'T'),
        (rem / 3600, 2, b':'),
        (rem % 3600 / 60, 2, b':'),
        (rem % 60, 2, b'.'),
        (millis as u32, 3, b'Z'),
    ];
    let mut out = [0u8; 24];
    let mut at = 0;
    for (mut value, width, separator) in fields {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        out[at + width] = separator;
        at += width + 1;
    }
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
}

/// Appends the `digits` lowest hexadecimal digits of `n`, lower case, zero-padded: what
/// `format!("{n:0digits$x}")` makes of an `n` below `16^digits`.
pub(crate) fn push_hex(out: &mut String, n: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        let nibble = (n >> (4 * i)) & 0xf;
        out.push(char::from(HEX[nibble as usize]));
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Reads the RFC's UTC form (and ISO 8601 generally) into Unix milliseconds.
pub fn parse_timestamp_millis(s: &str) -> Option<i64> {
    crate::msg::validate::parse_timestamp(s).map(|secs| secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
        let t = 1_795_000_000_000;
        let s = format_timestamp(t);
        assert_eq!(parse_timestamp_millis(&s), Some(t / 1000 * 1000));
    }

    /// The digit-by-digit form is what `format!` made, inside four-digit years and outside.
    #[test]
    fn timestamps_as_format_made_them() {
        let formatted = |unix_millis: i64| {
            let secs = unix_millis.div_euclid(1000);
            let millis = unix_millis.rem_euclid(1000);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60
            )
        };
        let mut t = -62_200_000_000_000_i64; // before year 0
        while t < 253_500_000_000_000 {
            // past year 9999
            assert_eq!(format_timestamp(t), formatted(t), "{t}");
            t += 9_876_543_210_987;
        }
        for t in [
            -1,
            0,
            999,
            86_399_999,
            951_782_400_123,
            1_795_000_000_001,
            253_402_300_799_999,
            253_402_300_800_000,
            -62_167_219_200_000,
            -62_167_219_200_001,
        ] {
            assert_eq!(format_timestamp(t), formatted(t), "{t}");
        }
    }

    #[test]
    fn decimals_and_ids() {
        for n in [0, 7, 10, 99, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        for (n, digits) in [(0, 2), (0xab, 2), (0x1234, 4), (0xf_ffff_ffff, 9), (0x5, 9)] {
            let mut s = String::new();
            push_hex(&mut s, n, digits);
            assert_eq!(s, format!("{n:0w$x}", w = digits as usize));
        }
        let mut ids = Ids::new("M3".into());
        assert_eq!(ids.next(), "M3.1");
        for _ in 0..8 {
            ids.next();
        }
        assert_eq!(ids.next(), "M3.10");
    }
}
