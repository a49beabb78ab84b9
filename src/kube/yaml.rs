//! Double-quoted YAML scalars. Every string that comes from the command line is written as one, so
//! `:`, `#`, quotes, a leading `-`, `*`, `&` or `!`, `yes`/`no`/`null` and numbers stay the string
//! they were, byte for byte, in any YAML reader (kubectl's included).

use std::fmt::Write;

/// `s` as a double-quoted YAML scalar.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Control characters are not allowed raw; U+2028/2029 (and NEL, a control) are line
            // breaks to YAML 1.1 readers, which would fold them; a BOM and U+FFFE/FFFF are not
            // printable. All are written as escapes.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn escapes_what_must_be_escaped_only() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("k: v # no comment"), r#""k: v # no comment""#);
        assert_eq!(quote("-n"), r#""-n""#);
        assert_eq!(quote("*x &y !z 'q' {a: [b]}"), r#""*x &y !z 'q' {a: [b]}""#);
        assert_eq!(quote("a\nb\tc\r"), r#""a\nb\tc\r""#);
        assert_eq!(quote("\u{0}\u{7f}\u{85}"), r#""\u0000\u007f\u0085""#);
        assert_eq!(
            quote("x\u{2028}y\u{2029}\u{feff}"),
            r#""x\u2028y\u2029\ufeff""#
        );
        // Printable Unicode stays as it is (the manifest is UTF-8).
        assert_eq!(quote("clé ключ 鍵 🔑"), "\"clé ключ 鍵 🔑\"");
    }
}
