//! Card data: the card number (PAN) and what the Payment Handler may keep of it, the card
//! types of ECML v2 and the brands of the Brand List, the Luhn check, expiry, tokens, amounts,
//! and redaction of anything that looks like a card number.
//!
//! A [`Pan`] never prints: its `Debug` shows the truncated number. Only [`Pan::digits`] gives
//! the whole number, for the few places that must have it (the ECML written by the Consumer's
//! wallet, the processor's decision, the token).

use ring::hmac;

/// Why card data was refused. The text never holds the card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardError(pub String);

impl std::fmt::Display for CardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card number: 12 to 19 digits (ISO/IEC 7812; ECML `Ecom_Payment_Card_Number`, no spaces or
/// hyphens).
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    /// Reads a card number: digits only, 12 to 19 of them.
    pub fn parse(text: &str) -> Result<Pan, CardError> {
        if text.is_empty() {
            return Err(CardError("the card number is empty".into()));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError(
                "the card number holds other characters than digits".into(),
            ));
        }
        if !(12..=19).contains(&text.len()) {
            return Err(CardError(format!(
                "the card number has {} digits, not 12 to 19",
                text.len()
            )));
        }
        Ok(Pan(text.to_owned()))
    }

    /// The whole number. Only for the wallet's ECML, the processor and the token.
    pub(crate) fn digits(&self) -> &str {
        &self.0
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The number truncated to its last four digits, the others replaced by `X` (an ECML
    /// NMTOKEN, as long as the number): `XXXXXXXXXXXX1111`.
    pub fn truncated(&self) -> String {
        truncate_digits(&self.0)
    }

    /// True when the Luhn check digit (ISO/IEC 7812-1 Annex B) is right.
    pub fn luhn_ok(&self) -> bool {
        luhn(&self.0)
    }

    /// The card network the number belongs to, by its issuer identification number.
    pub fn network(&self) -> Option<CardType> {
        CardType::ALL.into_iter().find(|t| t.issues(&self.0))
    }
}

impl std::fmt::Debug for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pan({})", self.truncated())
    }
}

/// `XXXX…` and the last four of a digit string.
fn truncate_digits(digits: &str) -> String {
    let keep = digits.len().saturating_sub(4);
    let mut t = "X".repeat(keep);
    t.push_str(&digits[keep..]);
    t
}

/// The Luhn check over a string of ASCII digits.
pub fn luhn(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card type SCCD accepts: its ECML v2 `Card/@Type` (RFC 4112 note 11) and its IOTP
/// `BrandId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardType {
    /// Visa: ECML `VISA`, BrandId `VISA`.
    Visa,
    /// Mastercard: ECML `MAST`, BrandId `MasterCard`.
    MasterCard,
    /// American Express: ECML `AMER`, BrandId `Amex`.
    Amex,
}

impl CardType {
    /// Every type, in the Brand List's order.
    pub const ALL: [CardType; 3] = [CardType::Visa, CardType::MasterCard, CardType::Amex];

    /// The ECML `Card/@Type` value.
    pub fn ecml(self) -> &'static str {
        match self {
            CardType::Visa => "VISA",
            CardType::MasterCard => "MAST",
            CardType::Amex => "AMER",
        }
    }

    /// The IOTP `BrandId`.
    pub fn brand_id(self) -> &'static str {
        match self {
            CardType::Visa => "VISA",
            CardType::MasterCard => "MasterCard",
            CardType::Amex => "Amex",
        }
    }

    /// The `BrandName` shown to the Consumer.
    pub fn brand_name(self) -> &'static str {
        match self {
            CardType::Visa => "Visa",
            CardType::MasterCard => "Mastercard",
            CardType::Amex => "American Express",
        }
    }

    /// Reads an ECML card type (case-insensitive, RFC 4112 note 11).
    pub fn from_ecml(value: &str) -> Option<CardType> {
        CardType::ALL
            .into_iter()
            .find(|t| t.ecml().eq_ignore_ascii_case(value))
    }

    /// Reads a BrandId (case-insensitive).
    pub fn from_brand_id(value: &str) -> Option<CardType> {
        CardType::ALL
            .into_iter()
            .find(|t| t.brand_id().eq_ignore_ascii_case(value))
    }

    /// Digits of the card verification value (CVV2/CVC2: 3; Amex CID: 4).
    pub fn verification_digits(self) -> usize {
        match self {
            CardType::Amex => 4,
            CardType::Visa | CardType::MasterCard => 3,
        }
    }

    /// True when a number of this network starts so (Visa 4; Mastercard 51–55, 2221–2720;
    /// Amex 34, 37) and has its length (Visa 13, 16 or 19; Mastercard 16; Amex 15).
    fn issues(self, digits: &str) -> bool {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        match self {
            CardType::Visa => digits.starts_with('4') && matches!(digits.len(), 13 | 16 | 19),
            CardType::MasterCard => {
                digits.len() == 16
                    && (prefix(2).is_some_and(|p| (51..=55).contains(&p))
                        || prefix(4).is_some_and(|p| (2221..=2720).contains(&p)))
            }
            CardType::Amex => digits.len() == 15 && matches!(prefix(2), Some(34 | 37)),
        }
    }
}

/// A card's expiry (ECML `ExpDate`: Month 1–12, a leading zero ignored; Year four digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry {
    /// The year.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
}

impl Expiry {
    /// Reads ECML's Month and Year.
    pub fn parse(month: &str, year: &str) -> Result<Expiry, CardError> {
        let m = month
            .parse::<u8>()
            .ok()
            .filter(|m| (1..=12).contains(m) && month.len() <= 2)
            .ok_or_else(|| CardError(format!("the expiry month {month:?} is not 1 to 12")))?;
        let y = (year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
            .then(|| year.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| CardError(format!("the expiry year {year:?} is not four digits")))?;
        Ok(Expiry { year: y, month: m })
    }

    /// True when the card has expired at `now` (Unix milliseconds, UTC): a card is valid to
    /// the end of its expiry month.
    pub fn is_expired(&self, now_unix_millis: i64) -> bool {
        let now = iotp::txn::format_timestamp(now_unix_millis);
        let year = now
            .get(..4)
            .and_then(|y| y.parse::<u16>().ok())
            .unwrap_or(0);
        let month = now
            .get(5..7)
            .and_then(|m| m.parse::<u8>().ok())
            .unwrap_or(0);
        (self.year, self.month) < (year, month)
    }

    /// ECML's Month value (no leading zero).
    pub fn month_text(&self) -> String {
        self.month.to_string()
    }

    /// ECML's Year value.
    pub fn year_text(&self) -> String {
        format!("{:04}", self.year)
    }
}

/// A decimal amount in major units (`12.50`, ECML note 27 and IOTP `Amount`), held in
/// ten-thousandths so that amounts written differently (`10.5`, `10.50`) compare equal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Money(pub i64);

impl Money {
    /// Reads `digits[.digits]`, at most four decimals, not negative.
    pub fn parse(text: &str) -> Option<Money> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty()
            || int.len() > 13
            || frac.len() > 4
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac.is_empty())
        {
            return None;
        }
        let mut units: i64 = int.parse().ok()?;
        for i in 0..4 {
            let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            units = units.checked_mul(10)?.checked_add(d)?;
        }
        Some(Money(units))
    }

    /// Written with two decimals, more when needed (`10.00`, `0.125`).
    pub fn to_text(self) -> String {
        let int = self.0 / 10_000;
        let frac = self.0 % 10_000;
        let mut f = format!("{frac:04}");
        while f.len() > 2 && f.ends_with('0') {
            f.pop();
        }
        format!("{int}.{f}")
    }
}

/// A token for a card: the same card always gets the same token from the same key, and the
/// token tells nothing of the number without the key (HMAC-SHA-256, 96 bits shown).
pub fn token(key: &[u8], pan: &Pan) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, pan.digits().as_bytes());
    format!("tok_{}", hex(&tag.as_ref()[..12]))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of parts, each prefixed with its length (no two part lists hash alike).
pub fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `text` with every run of 12 or more digits (single spaces or hyphens between them
/// allowed) masked but its last four: what a log line or an error description may hold.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, with single separators between digits.
        let start = i;
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
                end = j;
            } else if matches!(chars[j], ' ' | '-')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        let run = &chars[start..end];
        if digits >= 12 {
            let mut left = digits;
            for c in run {
                if c.is_ascii_digit() {
                    out.push(if left > 4 { 'X' } else { *c });
                    left -= 1;
                } else {
                    out.push(*c);
                }
            }
        } else {
            out.extend(run);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_good_numbers_and_refuses_one_digit_off() {
        for good in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "4000000000003220",
            "79927398713",
        ] {
            assert!(luhn(good), "{good}");
        }
        for bad in [
            "4111111111111112",
            "79927398710",
            "",
            "41111a1111111111",
            "0",
        ] {
            assert_eq!(luhn(bad), bad == "0", "{bad}");
        }
        // Every single-digit change of a good number is caught.
        let good = "4111111111111111";
        for i in 0..good.len() {
            for d in b'0'..=b'9' {
                let mut b = good.as_bytes().to_vec();
                if b[i] == d {
                    continue;
                }
                b[i] = d;
                let s = String::from_utf8(b).expect("ascii");
                assert!(!luhn(&s), "{s}");
            }
        }
    }

    #[test]
    fn pans_are_digits_of_the_right_length_and_never_print() {
        let pan = Pan::parse("4111111111111111").expect("valid");
        assert_eq!(pan.last4(), "1111");
        assert_eq!(pan.truncated(), "XXXXXXXXXXXX1111");
        assert!(iotp::xml::is_nmtoken(&pan.truncated()));
        assert_eq!(format!("{pan:?}"), "Pan(XXXXXXXXXXXX1111)");
        assert_eq!(pan.network(), Some(CardType::Visa));
        assert_eq!(
            Pan::parse("378282246310005").ok().and_then(|p| p.network()),
            Some(CardType::Amex)
        );
        assert_eq!(
            Pan::parse("2223000048400011")
                .ok()
                .and_then(|p| p.network()),
            Some(CardType::MasterCard)
        );
        assert_eq!(
            Pan::parse("6011111111111117")
                .ok()
                .and_then(|p| p.network()),
            None
        );
        for bad in [
            "",
            "4111 1111 1111 1111",
            "41111111111",
            "41111111111111111111",
            "４１",
        ] {
            let e = Pan::parse(bad).expect_err(bad);
            assert!(!e.0.contains("4111"), "{e}");
        }
    }

    #[test]
    fn card_types_and_brands() {
        for t in CardType::ALL {
            assert_eq!(CardType::from_ecml(t.ecml()), Some(t));
            assert_eq!(CardType::from_ecml(&t.ecml().to_lowercase()), Some(t));
            assert_eq!(CardType::from_brand_id(t.brand_id()), Some(t));
        }
        assert_eq!(CardType::from_ecml("DISC"), None);
        assert_eq!(CardType::from_brand_id("x-mockcard"), None);
        assert_eq!(CardType::Amex.verification_digits(), 4);
    }

    #[test]
    fn expiry_is_read_and_checked_to_the_end_of_its_month() {
        let e = Expiry::parse("07", "2030").expect("valid");
        assert_eq!((e.month, e.year), (7, 2030));
        assert_eq!((e.month_text(), e.year_text()), ("7".into(), "2030".into()));
        for (m, y) in [
            ("13", "2030"),
            ("0", "2030"),
            ("7", "30"),
            ("x", "2030"),
            ("7", ""),
        ] {
            assert!(Expiry::parse(m, y).is_err(), "{m}/{y}");
        }
        // 2030-07-31T23:59:59Z and 2030-08-01T00:00:00Z.
        let last_second = 1_911_772_799_000;
        let next_month = 1_911_772_800_000;
        assert_eq!(
            iotp::txn::format_timestamp(next_month),
            "2030-08-01T00:00:00.000Z"
        );
        assert!(!e.is_expired(last_second));
        assert!(e.is_expired(next_month));
        assert!(!e.is_expired(0));
    }

    #[test]
    fn money_compares_amounts_written_differently() {
        assert_eq!(Money::parse("10.5"), Money::parse("10.50"));
        assert_eq!(Money::parse("10"), Money::parse("10.0000"));
        assert_eq!(
            Money::parse("19.95").map(Money::to_text),
            Some("19.95".into())
        );
        assert_eq!(
            Money::parse("0.125").map(Money::to_text),
            Some("0.125".into())
        );
        assert_eq!(Money::parse("7").map(Money::to_text), Some("7.00".into()));
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.23456",
            "1,00",
            "1e3",
            "99999999999999",
        ] {
            assert_eq!(Money::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_stable_per_key_and_hide_the_number() {
        let pan = Pan::parse("4111111111111111").expect("valid");
        let other = Pan::parse("5555555555554444").expect("valid");
        let t = token(b"key one", &pan);
        assert_eq!(t, token(b"key one", &pan));
        assert_ne!(t, token(b"key two", &pan));
        assert_ne!(t, token(b"key one", &other));
        assert!(t.starts_with("tok_") && t.len() == 28, "{t}");
        assert!(!t.contains("1111"));
    }

    #[test]
    fn redaction_masks_card_numbers_and_keeps_the_rest() {
        assert_eq!(
            redact("card 4111111111111111 declined"),
            "card XXXXXXXXXXXX1111 declined"
        );
        assert_eq!(
            redact("4111 1111 1111 1111 / 4111-1111-1111-1111"),
            "XXXX XXXX XXXX 1111 / XXXX-XXXX-XXXX-1111"
        );
        assert_eq!(
            redact("<Card Number=\"378282246310005\"/>"),
            "<Card Number=\"XXXXXXXXXXX0005\"/>"
        );
        // Short numbers (amounts, dates, ids) stay.
        let plain = "payment P0123456789ab of 10.00 USD on 2030-07-31, code 123456";
        assert_eq!(redact(plain), plain);
        assert_eq!(redact("€ 12 ü"), "€ 12 ü");
        assert_eq!(redact("trailing 1234 "), "trailing 1234 ");
    }
}
