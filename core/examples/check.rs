fn main() {
    for f in std::env::args().skip(1) {
        let bytes = std::fs::read(&f).unwrap();
        let r = if std::env::var("FRAG").is_ok() { iotp::Report::read_fragment(&bytes, &iotp::Limits::default()) } else { iotp::Report::read(&bytes, &iotp::Limits::default()) };
        println!("== {f}: valid={} errors={}", r.is_valid(), r.errors.len());
        for e in &r.errors { println!("   {e}"); }
        if let Some(m) = &r.message {
            let out = m.to_xml();
            let r2 = iotp::Report::read(out.as_bytes(), &iotp::Limits::default());
            let same = r2.message.as_ref() == Some(m);
            let out2 = r2.message.as_ref().map(|m| m.to_xml()).unwrap_or_default();
            println!("   roundtrip equal={same} fixed_point={}", out == out2);
            if std::env::var("SHOW").is_ok() { println!("{out}"); }
        }
    }
}
