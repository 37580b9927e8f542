//! The few text elements read from AWS STS's XML answers (`AssumeRoleWithWebIdentity`'s
//! credentials, an error's `Code`). Not an XML parser: the element must appear once, hold
//! plain text (only the five predefined entities, no markup, no CDATA), and anything else is
//! refused rather than guessed at. STS answers are a fixed, flat shape; a full parser (a new
//! dependency) would read nothing more from them.

/// The text of the one `<name>…</name>` inside the one `<within>…</within>` of `doc`.
pub(super) fn text_in(doc: &str, within: &str, name: &str) -> Result<String, &'static str> {
    let block = only_element(doc, within)?;
    let raw = only_element(block, name)?;
    unescape(raw)
}

/// The content of the single element `name` (no attributes) in `doc`.
fn only_element<'a>(doc: &'a str, name: &str) -> Result<&'a str, &'static str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = doc.find(&open).ok_or("a missing element")?;
    let rest = &doc[start + open.len()..];
    let end = rest.find(&close).ok_or("an unclosed element")?;
    if rest[end + close.len()..].contains(&open) {
        return Err("a repeated element");
    }
    Ok(&rest[..end])
}

fn unescape(raw: &str) -> Result<String, &'static str> {
    if raw.contains('<') {
        return Err("markup where text was expected");
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (ch, len) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&apos;", '\''),
        ]
        .into_iter()
        .find(|(e, _)| after.starts_with(e))
        .map(|(e, c)| (c, e.len()))
        .ok_or("an unknown entity")?;
        out.push(ch);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STS: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>se/cr+et&amp;</SecretAccessKey>
      <SessionToken>tok==</SessionToken>
      <Expiration>2026-12-06T22:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn reads_the_credentials_of_an_sts_answer() {
        assert_eq!(
            text_in(STS, "Credentials", "AccessKeyId").unwrap(),
            "ASIAEXAMPLE"
        );
        assert_eq!(
            text_in(STS, "Credentials", "SecretAccessKey").unwrap(),
            "se/cr+et&"
        );
        assert_eq!(
            text_in(STS, "Credentials", "Expiration").unwrap(),
            "2026-12-06T22:00:00Z"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_for_sure() {
        assert!(text_in(STS, "Credentials", "Missing").is_err());
        assert!(text_in("<C><A>x</A><A>y</A></C>", "C", "A").is_err());
        assert!(text_in("<C><A><B>x</B></A></C>", "C", "A").is_err());
        assert!(text_in("<C><A><![CDATA[x]]></A></C>", "C", "A").is_err());
        assert!(text_in("<C><A>&#x41;</A></C>", "C", "A").is_err());
        assert!(text_in("<C><A>x", "C", "A").is_err());
        assert!(text_in("", "C", "A").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(doc in "\\PC{0,200}", a in "[A-Za-z]{1,5}", b in "[A-Za-z]{1,5}") {
            let _ = text_in(&doc, &a, &b);
        }
    }
}
