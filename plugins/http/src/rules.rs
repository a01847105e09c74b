//! The pure parts of RFC 2935 over HTTP: which content types are IOTP, which paths take an
//! IOTP Startup Request, the startup document, short reasons from bodies.

/// The MIME type of IOTP messages (RFC 2935 §4.1, §7).
pub const IOTP_MIME: &str = "application/iotp";
/// The experimental MIME type RFC 2935 §4.1 says SHOULD also be recognised.
pub const IOTP_MIME_EXPERIMENTAL: &str = "application/x-iotp";
/// The namespace of the startup document.
pub const STARTUP_NAMESPACE: &str = "urn:iotp-rs:http-startup";

/// Whether a `Content-Type` value is IOTP: `application/iotp` or `application/x-iotp`,
/// case-insensitive, parameters (`; charset=UTF-8`) allowed.
pub fn is_iotp_content_type(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(IOTP_MIME) || essence.eq_ignore_ascii_case(IOTP_MIME_EXPERIMENTAL)
}

/// Whether `path` (a request's path, without its query) is `startup` or under it: `/pay`
/// matches `/pay` and `/pay/x`, not `/payx`; `/` matches every path. A trailing `/` of
/// `startup` is ignored (`/pay/` is `/pay`).
pub fn is_under(path: &str, startup: &str) -> bool {
    let startup = startup.trim_end_matches('/');
    if startup.is_empty() {
        return true;
    }
    match path.strip_prefix(startup) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Why a startup body cannot go into the startup document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupBodyError {
    /// Not UTF-8 text.
    NotUtf8,
    /// UTF-8, but with a character XML 1.0 cannot carry (a control character).
    NotXmlText,
}

/// The startup document handed to the host for an IOTP Startup Request:
///
/// ```xml
/// <IotpStartupRequest xmlns="urn:iotp-rs:http-startup" Method="GET" Target="/pay/purchase?order=17"/>
/// ```
///
/// `target` is the request target as sent (path and query). For a `POST` the body (UTF-8
/// text) is the element's text content, escaped (an empty body gives the empty element).
pub fn startup_document(
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, StartupBodyError> {
    let mut document = String::with_capacity(128 + body.map_or(0, <[u8]>::len));
    document.push_str("<IotpStartupRequest xmlns=\"");
    document.push_str(STARTUP_NAMESPACE);
    document.push_str("\" Method=\"");
    escape_attribute(&mut document, method)?;
    document.push_str("\" Target=\"");
    escape_attribute(&mut document, target)?;
    document.push('"');
    match body {
        Some(body) if !body.is_empty() => {
            let text = std::str::from_utf8(body).map_err(|_| StartupBodyError::NotUtf8)?;
            document.push('>');
            escape_text(&mut document, text)?;
            document.push_str("</IotpStartupRequest>");
        }
        _ => document.push_str("/>"),
    }
    Ok(document.into_bytes())
}

fn check_xml_char(c: char) -> Result<(), StartupBodyError> {
    match c {
        '\t' | '\n' | '\r' => Ok(()),
        '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => Err(StartupBodyError::NotXmlText),
        _ => Ok(()),
    }
}

/// Escapes an attribute value (double-quoted); whitespace other than space is written as a
/// character reference so that attribute-value normalisation keeps it.
fn escape_attribute(out: &mut String, value: &str) -> Result<(), StartupBodyError> {
    for c in value.chars() {
        check_xml_char(c)?;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    Ok(())
}

/// Escapes text content; `\r` becomes a character reference so that end-of-line
/// normalisation keeps it.
fn escape_text(out: &mut String, text: &str) -> Result<(), StartupBodyError> {
    for c in text.chars() {
        check_xml_char(c)?;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    Ok(())
}

/// The first line of a body, as text, trimmed and cut to 200 characters ("" when empty).
pub fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    let mut cut: String = line.chars().take(200).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn content_types() {
        for yes in [
            "application/iotp",
            "APPLICATION/IOTP",
            "application/x-iotp; charset=utf-8",
            " Application/X-IOTP ;charset=UTF-8",
        ] {
            assert!(is_iotp_content_type(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "text/xml",
            "application/iotpx",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_iotp_content_type(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn startup_paths() {
        assert!(is_under("/pay", "/pay"));
        assert!(is_under("/pay/x", "/pay"));
        assert!(is_under("/pay/", "/pay/"));
        assert!(is_under("/pay", "/pay/"));
        assert!(!is_under("/payx", "/pay"));
        assert!(!is_under("/", "/pay"));
        assert!(is_under("/anything", "/"));
    }

    #[test]
    fn startup_documents() {
        assert_eq!(
            startup_document("GET", "/pay/purchase?order=17&x=\"<y>\"", None).unwrap(),
            b"<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"GET\" \
              Target=\"/pay/purchase?order=17&amp;x=&quot;&lt;y&gt;&quot;\"/>"
        );
        assert_eq!(
            startup_document("POST", "/pay", Some(b"a=1&b=<2>\"\r\n")).unwrap(),
            b"<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"POST\" \
              Target=\"/pay\">a=1&amp;b=&lt;2&gt;\"&#xD;\n</IotpStartupRequest>"
        );
        assert_eq!(
            startup_document("POST", "/pay", Some(b"")).unwrap(),
            b"<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"POST\" \
              Target=\"/pay\"/>"
        );
        assert_eq!(
            startup_document("POST", "/pay", Some(b"\xff")),
            Err(StartupBodyError::NotUtf8)
        );
        assert_eq!(
            startup_document("POST", "/pay", Some(b"a\x01")),
            Err(StartupBodyError::NotXmlText)
        );
    }

    #[test]
    fn first_lines() {
        assert_eq!(first_line(b""), "");
        assert_eq!(first_line(b"  unknown offer \nmore"), "unknown offer");
        assert_eq!(first_line(&[b'x'; 300]).chars().count(), 201);
    }
}
