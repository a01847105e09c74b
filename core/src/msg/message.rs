//! The IOTP Message (§3.2) and the entry points for reading and writing it.

use crate::xml::reader::{Item, SyntaxError, prepare};
use crate::xml::writer::{DECLARATION, XmlWriter};
use crate::xml::{Limits, XmlElement};

use super::codes::ErrorCode;
use super::element::{Codec, Ctx, ElementKind, Here, WireElement};
use super::error::ValidationError;
use super::model::*;

/// The IOTP namespace (§3.2).
pub const IOTP_NAMESPACE: &str = "iotp:ietf.org/iotp-v1.0";

macro_rules! trading_blocks {
    ($($variant:ident($ty:ident)),+ $(,)?) => {
        /// One trading block (§3.2, §8).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum TradingBlock {
            $(
                #[doc = concat!("`", stringify!($ty), "`")]
                $variant($ty),
            )+
        }

        impl TradingBlock {
            /// The block's wire tag.
            pub fn tag(&self) -> &'static str {
                match self {
                    $(TradingBlock::$variant(_) => <$ty as WireElement>::TAG,)+
                }
            }

            /// The block's ID.
            pub fn id(&self) -> &str {
                match self {
                    $(TradingBlock::$variant(b) => &b.id,)+
                }
            }

            fn decode<'a>(ctx: &mut Ctx<'a>, tag: crate::xml::reader::Tag<'a>) -> Result<Self, crate::xml::reader::Tag<'a>> {
                $(
                    if crate::xml::same_name(tag.name, <$ty as WireElement>::TAG) {
                        return Ok(TradingBlock::$variant(<$ty as Codec>::decode(ctx, tag)));
                    }
                )+
                Err(tag)
            }

            fn encode(&self, w: &mut XmlWriter) {
                match self {
                    $(TradingBlock::$variant(b) => b.encode(w),)+
                }
            }
        }

        $(
            impl From<$ty> for TradingBlock {
                fn from(block: $ty) -> Self {
                    TradingBlock::$variant(block)
                }
            }
        )+
    };
}

trading_blocks! {
    AuthenticationRequest(AuthenticationRequestBlock),
    AuthenticationResponse(AuthenticationResponseBlock),
    AuthenticationStatus(AuthenticationStatusBlock),
    Cancel(CancelBlock),
    DeliveryRequest(DeliveryRequestBlock),
    DeliveryResponse(DeliveryResponseBlock),
    InquiryRequest(InquiryRequestBlock),
    InquiryResponse(InquiryResponseBlock),
    OfferResponse(OfferResponseBlock),
    PaymentExchange(PaymentExchangeBlock),
    PaymentRequest(PaymentRequestBlock),
    PaymentResponse(PaymentResponseBlock),
    PingRequest(PingRequestBlock),
    PingResponse(PingResponseBlock),
    TradingProtocolOptions(TradingProtocolOptionsBlock),
    TpoSelection(TpoSelectionBlock),
}

/// An IOTP Message (§3.2): the Transaction Reference Block, optional Signature and Error blocks,
/// and the trading blocks.
///
/// Wire tag: `IotpMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IotpMessage {
    /// `TransRefBlk`.
    pub trans_ref: TransactionReferenceBlock,
    /// `IotpSignatures`.
    pub signatures: Option<SignatureBlock>,
    /// `ErrorBlk`.
    pub error: Option<ErrorBlock>,
    /// The trading blocks in document order.
    pub blocks: Vec<TradingBlock>,
    /// Extension elements marked `IOTP:Critical="False"` (§3.6.1).
    pub extensions: Vec<XmlElement>,
}

impl WireElement for IotpMessage {
    const TAG: &'static str = "IotpMessage";
    const KIND: ElementKind = ElementKind::Message;
}

impl IotpMessage {
    /// Reads and validates a message with the default limits. Any problem that is an error
    /// (not a warning) fails the call, and the problems are returned.
    pub fn from_xml(input: &[u8]) -> Result<IotpMessage, Vec<ValidationError>> {
        let report = Report::read(input, &Limits::default());
        let valid = report.is_valid();
        match report.message {
            Some(message) if valid => Ok(message),
            _ => Err(report.errors),
        }
    }

    /// The message's canonical XML (see [`crate::xml`] for the form).
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_capacity(4096);
        w.out.push_str(DECLARATION);
        self.encode(&mut w);
        w.out
    }

    /// The message ID (`MsgId/@ID`).
    pub fn message_id(&self) -> &str {
        &self.trans_ref.message_id.id
    }

    /// The transaction's globally unique ID (`TransId/@IotpTransId`).
    pub fn iotp_trans_id(&self) -> &str {
        &self.trans_ref.transaction_id.iotp_trans_id
    }

    /// The trading blocks with a wire tag, e.g. `msg.blocks_of("PayReqBlk")`.
    pub fn blocks_of(&self, tag: &str) -> impl Iterator<Item = &TradingBlock> {
        self.blocks.iter().filter(move |b| b.tag() == tag)
    }

    fn encode(&self, w: &mut XmlWriter) {
        w.open("IotpMessage");
        w.attr("xmlns", IOTP_NAMESPACE);
        w.close_open();
        self.trans_ref.encode(w);
        if let Some(s) = &self.signatures {
            s.encode(w);
        }
        if let Some(e) = &self.error {
            e.encode(w);
        }
        for b in &self.blocks {
            b.encode(w);
        }
        for e in &self.extensions {
            w.element(e);
        }
        w.end("IotpMessage");
    }

    fn decode<'a>(ctx: &mut Ctx<'a>, tag: crate::xml::reader::Tag<'a>) -> Self {
        const NAMES: &[&str] = &[];
        let here = ctx.read_attributes(&tag, ElementKind::Message, NAMES, &mut []);
        let mut msg = IotpMessage::default();
        let mut have_trans_ref = false;
        // 0: TransRefBlk, 1: IotpSignatures, 2: ErrorBlk, 3: trading blocks.
        let mut pos = 0usize;
        let mut counts = [0u32; 4];
        if !tag.empty {
            while let Some(child) = ctx.next_child(&here) {
                let index = match child.name {
                    "TransRefBlk" => 0,
                    "IotpSignatures" => 1,
                    "ErrorBlk" => 2,
                    _ => 3,
                };
                if index < 3 && !ctx.sequence(&child, &here, index, 1, &mut pos, &mut counts) {
                    continue;
                }
                match index {
                    0 => {
                        have_trans_ref = true;
                        msg.trans_ref = TransactionReferenceBlock::decode(ctx, child);
                    }
                    1 => msg.signatures = Some(SignatureBlock::decode(ctx, child)),
                    2 => msg.error = Some(ErrorBlock::decode(ctx, child)),
                    _ => match TradingBlock::decode(ctx, child) {
                        Ok(block) => {
                            if pos == 3 || ctx.sequence_ok_for_block(&here, &mut pos) {
                                msg.blocks.push(block);
                            }
                        }
                        Err(child) => ctx.foreign_or_unexpected(child, &here, &mut msg.extensions),
                    },
                }
            }
        }
        if !have_trans_ref && ctx.fatal.is_none() {
            ctx.missing_child("TransRefBlk", &here);
        }
        msg
    }
}

impl Ctx<'_> {
    /// Trading blocks come after TransRefBlk, IotpSignatures and ErrorBlk.
    fn sequence_ok_for_block(&mut self, _here: &Here<'_>, pos: &mut usize) -> bool {
        *pos = 3;
        true
    }
}

/// What reading (and validating) one document found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The message, when the document was well-formed XML with an `IotpMessage` root. It may
    /// still have errors: the model is the best reading of what was there.
    pub message: Option<IotpMessage>,
    /// The Transaction Reference Block, also when the message is broken but it could be found
    /// (§4.5.2.1), so that a proper error response can be built.
    pub trans_ref: Option<TransactionReferenceBlock>,
    /// Every problem found, in document order (up to [`Limits::max_errors`]).
    pub errors: Vec<ValidationError>,
}

impl Report {
    /// Reads one document as an IOTP message and validates it on its own.
    pub fn read(input: &[u8], limits: &Limits) -> Report {
        let mut report = Report::decode(input, limits, None);
        report.finish(input, limits);
        report
    }

    /// Reads a document whose root may be any IOTP element (a fragment such as a `BrandList`,
    /// like `xmllint --dtdvalid` does) and checks it against that element's declaration.
    pub fn read_fragment(input: &[u8], limits: &Limits) -> Report {
        let mut report = Report::decode(input, limits, Some(()));
        report.finish(input, limits);
        report
    }

    /// True when no problem is an error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.errors.iter().any(ValidationError::is_error)
    }

    fn finish(&mut self, input: &[u8], limits: &Limits) {
        if self.errors.is_empty() {
            return;
        }
        // `decode` fills the lines when it has the document; this is for the reports it returns
        // early (syntax errors).
        if self
            .errors
            .iter()
            .any(|e| e.line.is_none() && e.offset.is_some())
            && let Ok(src) = prepare(input, limits)
        {
            fill_lines(&src, &mut self.errors);
        }
        let msg_ref = self
            .trans_ref
            .as_ref()
            .map(|t| t.message_id.id.as_str())
            .filter(|id| !id.is_empty());
        for e in &mut self.errors {
            if e.location.iotp_msg_ref.is_none() {
                e.location.iotp_msg_ref = msg_ref.map(str::to_owned);
            }
        }
        // A stable sort by place. Many problems (which are large) are not moved about by the
        // sort: their keys and positions are sorted, then each is moved once.
        let place = |e: &ValidationError| (e.line.unwrap_or(0), e.offset.unwrap_or(0));
        if self.errors.is_sorted_by_key(place) {
            return;
        }
        if self.errors.len() <= 32 {
            self.errors.sort_by_key(place);
        } else {
            let mut order: Vec<_> = self.errors.iter().map(place).zip(0usize..).collect();
            order.sort_unstable();
            let mut errors: Vec<Option<ValidationError>> = std::mem::take(&mut self.errors)
                .into_iter()
                .map(Some)
                .collect();
            self.errors.reserve_exact(order.len());
            for (_, i) in order {
                self.errors.extend(errors[i].take());
            }
        }
    }

    fn decode(input: &[u8], limits: &Limits, fragment: Option<()>) -> Report {
        let src = match prepare(input, limits) {
            Ok(src) => src,
            Err(e) => {
                let trans_ref = match &e {
                    SyntaxError::TooLarge { .. } => None,
                    _ => salvage_trans_ref(input, limits),
                };
                return Report {
                    message: None,
                    trans_ref,
                    errors: vec![syntax_error(&e)],
                };
            }
        };
        // The fast tokenizer reads the usual documents; the others are read again by quick-xml.
        match Report::decode_prepared(input, &src, Ctx::new_fast(&src, limits), limits, fragment) {
            Some(report) => report,
            None => Report::decode_prepared(input, &src, Ctx::new(&src, limits), limits, fragment)
                .unwrap_or_default(),
        }
    }

    /// Decodes the prepared document with `ctx`; None when its fast tokenizer gave up.
    fn decode_prepared(
        input: &[u8],
        src: &str,
        mut ctx: Ctx<'_>,
        limits: &Limits,
        fragment: Option<()>,
    ) -> Option<Report> {
        let mut message = None;
        let root = loop {
            match ctx.cur.next_item() {
                Ok(Item::Start(tag)) => break Some(tag),
                Ok(_) => continue,
                Err(e) => {
                    ctx.fatal = Some(e);
                    break None;
                }
            }
        };
        if let Some(root) = root {
            if root.name == IotpMessage::TAG {
                message = Some(IotpMessage::decode(&mut ctx, root));
            } else if fragment.is_some() {
                super::fragment::decode_fragment(&mut ctx, root);
            } else {
                let here = Here {
                    tag: root.name,
                    kind: ElementKind::Message,
                    id: None,
                    offset: root.offset,
                };
                ctx.error(
                    ErrorCode::XmlNotValid,
                    &here,
                    None,
                    format!("the root element is {}, not IotpMessage", root.name),
                );
                let _ = ctx.cur.skip_element(&root);
            }
            if ctx.fatal.is_none()
                && let Err(e) = ctx.cur.next_item().and_then(|item| match item {
                    Item::Eof => Ok(()),
                    _ => Err(SyntaxError::NotWellFormed {
                        offset: ctx.cur.offset,
                        reason: "content after the root element".into(),
                    }),
                })
            {
                ctx.fatal = Some(e);
            }
        }
        if ctx.cur.bailed() {
            return None;
        }
        if let Some(fatal) = ctx.fatal.take() {
            let trans_ref = message
                .as_ref()
                .map(|m: &IotpMessage| m.trans_ref.clone())
                .filter(|t| !t.transaction_id.iotp_trans_id.is_empty())
                .or_else(|| salvage_trans_ref(input, limits));
            // Once the document is broken, only that is reported: what was found before it
            // would be guesses about a document that does not exist.
            return Some(Report {
                message: None,
                trans_ref,
                errors: vec![syntax_error(&fatal)],
            });
        }
        ctx.resolve_ids();
        if let Some(msg) = &message {
            // `resolve_ids` left `ids` sorted by ID, then by position.
            let index = super::validate::IdIndex::from_sorted(ctx.ids.iter().map(|e| {
                (
                    e.key,
                    e.id.clone(),
                    std::borrow::Cow::Borrowed(e.tag),
                    e.offset,
                )
            }));
            // Straight into the problems found so far, then placed, then cut to the budget as
            // `push` would have.
            let start = ctx.errors.len();
            super::validate::validate_message(msg, &index, &mut ctx.errors);
            for e in &mut ctx.errors[start..] {
                let l = &e.location;
                let anchor = l
                    .element_ref
                    .as_deref()
                    .or(l.comp_ref.as_deref())
                    .or(l.blk_ref.as_deref());
                e.offset = anchor.and_then(|id| index.offset(id));
            }
            ctx.cap_errors();
        }
        let trans_ref = message.as_ref().map(|m| m.trans_ref.clone());
        let mut errors = std::mem::take(&mut ctx.errors);
        fill_lines(src, &mut errors);
        Some(Report {
            message,
            trans_ref,
            errors,
        })
    }
}

/// Sets the line of every problem that has an offset but no line yet, counting the document's
/// line ends once (in offset order) rather than once per problem.
fn fill_lines(src: &str, errors: &mut [ValidationError]) {
    let mut todo: Vec<(usize, usize)> = Vec::with_capacity(errors.len());
    todo.extend(
        errors
            .iter()
            .enumerate()
            .filter(|(_, e)| e.line.is_none())
            .filter_map(|(i, e)| e.offset.map(|o| (o.min(src.len()), i))),
    );
    if todo.is_empty() {
        return;
    }
    todo.sort_unstable();
    let bytes = src.as_bytes();
    let (mut at, mut line) = (0usize, 1u32);
    for (offset, i) in todo {
        line += count_newlines(&bytes[at..offset]) as u32;
        at = offset;
        errors[i].line = Some(line);
    }
}

/// The line feeds in `bytes`. Counted lane-wise in arrays of 64 bytes, in counters of one byte
/// emptied every 255 arrays, the rest as one more array padded with spaces: about 0.2
/// instructions per byte, where `memchr_iter(..).count()` took about 0.5 on the 6 KB sample
/// (it stops at every line feed).
fn count_newlines(bytes: &[u8]) -> usize {
    #[inline(always)]
    fn step(lanes: &mut [u8; 64], chunk: &[u8; 64]) {
        for j in 0..64 {
            lanes[j] += u8::from(chunk[j] == b'\n');
        }
    }
    let total = |lanes: &[u8; 64]| lanes.iter().map(|&n| usize::from(n)).sum::<usize>();
    let (chunks, rest) = bytes.as_chunks::<64>();
    let mut count = 0;
    for group in chunks.chunks(255) {
        let mut lanes = [0u8; 64];
        for chunk in group {
            step(&mut lanes, chunk);
        }
        count += total(&lanes);
    }
    let mut last = [b' '; 64];
    last[..rest.len()].copy_from_slice(rest);
    let mut lanes = [0u8; 64];
    step(&mut lanes, &last);
    count + total(&lanes)
}

/// The ErrorComp-ready problem for a syntax error.
fn syntax_error(e: &SyntaxError) -> ValidationError {
    let code = match e {
        SyntaxError::TooLarge { .. } => ErrorCode::MsgTooLarge,
        SyntaxError::Encoding(_) | SyntaxError::NotWellFormed { .. } => ErrorCode::XmlNotWellFrmd,
        SyntaxError::EntityDeclaration { .. } => ErrorCode::XmlNotValid,
        SyntaxError::TooDeep { .. }
        | SyntaxError::TooManyAttributes { .. }
        | SyntaxError::TextTooLong { .. } => ErrorCode::ElTooLarge,
    };
    let location = ErrorLocation {
        element_type: IotpMessage::TAG.to_owned(),
        ..ErrorLocation::default()
    };
    ValidationError::hard(code, location, e.to_string()).at(e.offset())
}

/// Finds and reads the Transaction Reference Block of a broken message (§4.5.2.1), so that an
/// error response can name the transaction.
fn salvage_trans_ref(input: &[u8], limits: &Limits) -> Option<TransactionReferenceBlock> {
    let src = prepare(input, limits).ok()?;
    let start = src.find("<TransRefBlk")?;
    let end = src[start..].find("</TransRefBlk>")? + start + "</TransRefBlk>".len();
    let fragment = &src[start..end];
    let mut ctx = Ctx::new(fragment, limits);
    let tag = match ctx.cur.next_item() {
        Ok(Item::Start(tag)) => tag,
        _ => return None,
    };
    let block = TransactionReferenceBlock::decode(&mut ctx, tag);
    (ctx.fatal.is_none() && !block.transaction_id.iotp_trans_id.is_empty()).then_some(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every start and length up to 200 bytes, and long inputs around the end of a group of
    /// 255 arrays (where the one-byte counters are emptied).
    #[test]
    fn count_newlines_counts_every_line_feed() {
        let naive = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        let text: Vec<u8> = (0..40_000u32)
            .map(|i| match i % 7 {
                0 | 3 => b'\n',
                5 => b'\r',
                _ => b'a' + (i % 26) as u8,
            })
            .collect();
        for start in 0..70 {
            for end in start..start + 200 {
                assert_eq!(count_newlines(&text[start..end]), naive(&text[start..end]));
            }
        }
        for len in [
            255 * 64 - 1,
            255 * 64,
            255 * 64 + 1,
            255 * 64 * 2 + 63,
            40_000,
        ] {
            assert_eq!(count_newlines(&text[..len]), naive(&text[..len]));
        }
        let all = vec![b'\n'; 255 * 64 * 2 + 100];
        assert_eq!(count_newlines(&all), all.len());
    }

    /// Lines are one more than the line ends before the offset (offsets past the end count
    /// the whole document).
    #[test]
    fn lines_of_problems() {
        let src = "a\nbc\n\nd\r\ne\n";
        let offsets = [9, 0, 1, 2, 3, 5, 6, 7, 8, 11, 12, 40, 4];
        let mut errors: Vec<_> = offsets
            .iter()
            .map(|&o| {
                ValidationError::hard(ErrorCode::AttMissing, ErrorLocation::default(), "")
                    .at(Some(o))
            })
            .collect();
        errors[4].line = Some(99);
        fill_lines(src, &mut errors);
        for (k, e) in errors.iter().enumerate() {
            let o = offsets[k].min(src.len());
            let expected = if k == 4 {
                99
            } else {
                1 + src[..o].bytes().filter(|&b| b == b'\n').count() as u32
            };
            assert_eq!(e.line, Some(expected), "offset {o}");
        }
    }

    /// `finish` orders the problems by line and offset, keeping the order of equal places.
    #[test]
    fn problems_are_ordered_stably_by_place() {
        let at = |line: Option<u32>, offset: Option<usize>, n: usize| {
            let mut e = ValidationError::hard(
                ErrorCode::AttMissing,
                ErrorLocation::default(),
                n.to_string(),
            )
            .at(offset);
            e.line = line;
            e
        };
        let places = [
            (Some(3), Some(40)),
            (Some(1), Some(5)),
            (None, None),
            (Some(3), Some(40)),
            (Some(2), Some(9)),
            (Some(1), Some(5)),
            (Some(2), None),
            (Some(3), Some(30)),
        ];
        // Few problems, and many (which take another way).
        for copies in [1, 9] {
            let errors: Vec<_> = places
                .iter()
                .cycle()
                .take(places.len() * copies)
                .enumerate()
                .map(|(n, &(l, o))| at(l, o, n))
                .collect();
            let mut expected = errors.clone();
            expected.sort_by_key(|e| (e.line.unwrap_or(0), e.offset.unwrap_or(0)));
            let mut report = Report {
                errors,
                ..Report::default()
            };
            report.finish(b"", &Limits::default());
            assert_eq!(report.errors, expected);
        }
    }

    /// Reading with the fast tokenizer (and quick-xml when it gives up) gives the report that
    /// reading with quick-xml alone gives: samples, and mutations of them.
    #[test]
    fn the_fast_read_gives_the_checked_read_s_report() {
        let samples = ["tpo_offer_6k.xml", "ping.xml"].map(|name| {
            let path = format!(
                "{}/../../shared/spec/perf-samples/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read_to_string(&path).unwrap_or_default()
        });
        assert!(samples.iter().all(|s| s.len() > 500));
        let mut docs = samples.to_vec();
        for s in &samples {
            docs.extend(crate::xml::reader::tests::mutations(s, 13));
        }
        // And a few edits at once: markup characters put in or taken out, pieces copied.
        let marks = [
            "<", ">", "\"", "'", "/", "&", "=", " ", "\r", "?", "!", "-", ";", "#", "]",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for k in 0..500 {
            let mut d = samples[k % 2].clone();
            for _ in 0..next() % 4 + 1 {
                let mut at = next() % (d.len() + 1);
                while !d.is_char_boundary(at) {
                    at -= 1;
                }
                let mark = marks[next() % marks.len()];
                match next() % 3 {
                    0 => d.insert_str(at, mark),
                    1 if at < d.len() => {
                        d.remove(at);
                    }
                    _ => {
                        let mut end = (at + next() % 40).min(d.len());
                        while !d.is_char_boundary(end) {
                            end -= 1;
                        }
                        let piece = d[at..end].to_owned();
                        let mut to = next() % (d.len() + 1);
                        while !d.is_char_boundary(to) {
                            to -= 1;
                        }
                        d.insert_str(to, &piece);
                    }
                }
            }
            docs.push(d);
        }
        let few = Limits {
            max_errors: 5,
            ..Limits::default()
        };
        for (doc, limits) in docs
            .iter()
            .flat_map(|d| [(d, Limits::default()), (d, few.clone())])
        {
            let limits = &limits;
            let fast = Report::read(doc.as_bytes(), limits);
            let src = prepare(doc.as_bytes(), limits);
            let Ok(src) = src else {
                continue;
            };
            let mut slow =
                Report::decode_prepared(doc.as_bytes(), &src, Ctx::new(&src, limits), limits, None)
                    .unwrap_or_default();
            slow.finish(doc.as_bytes(), limits);
            assert_eq!(fast.message, slow.message, "{doc}");
            assert_eq!(fast.trans_ref, slow.trans_ref, "{doc}");
            assert_eq!(fast.errors, slow.errors, "{doc}");
        }
    }
}
