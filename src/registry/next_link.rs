//! Paging of the referrers API: the `rel="next"` entry of a page's `Link` header, followed only
//! on the same registry under `/v2/`, and reported (never silently dropped) otherwise, so a
//! list cut short is known to be incomplete.

/// The `rel="next"` link of a referrers page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// No next page: the list is complete.
    End,
    /// The next page, as a path under `/v2/` on the same registry.
    Follow(String),
    /// There is a next page that we will not or cannot follow (why).
    Unfollowable(&'static str),
}

/// The `rel="next"` link of a referrers page. A next page on another host is not followed (the
/// credentials and limits are this registry's), but it is reported, never silently dropped.
pub(super) fn next_link(resp: &reqwest::Response) -> Next {
    let mut links = resp
        .headers()
        .get_all(reqwest::header::LINK)
        .iter()
        .peekable();
    if links.peek().is_none() {
        return Next::End;
    }
    for value in links {
        let Ok(link) = value.to_str() else {
            return Next::Unfollowable("is in an unreadable Link header");
        };
        if let Some(next) = parse_next(link, resp.url()) {
            return next;
        }
    }
    Next::End
}

/// The `rel="next"` entry of one Link header value, if it has one.
pub(crate) fn parse_next(link: &str, base: &reqwest::Url) -> Option<Next> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let params = params.replace(' ', "").to_ascii_lowercase();
        if !params
            .split(';')
            .any(|p| p == "rel=\"next\"" || p == "rel=next")
        {
            return None;
        }
        let Some(target) = target
            .trim()
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
        else {
            return Some(Next::Unfollowable("is not a <URL>"));
        };
        let Ok(url) = base.join(target) else {
            return Some(Next::Unfollowable("is not a URL"));
        };
        let same = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        if !same {
            return Some(Next::Unfollowable("is on another host"));
        }
        let Some(path) = url.path().strip_prefix("/v2/") else {
            return Some(Next::Unfollowable("is outside /v2/"));
        };
        let q = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        Some(Next::Follow(format!("{path}{q}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(link: &str) -> Option<Next> {
        let base = reqwest::Url::parse("http://127.0.0.1:5000/v2/app/referrers/sha256:ab").unwrap();
        parse_next(link, &base)
    }

    #[test]
    fn next_links_on_this_registry_are_followed_and_others_reported() {
        assert_eq!(
            next(r#"</v2/app/referrers/sha256:ab?n=2>; rel="next""#),
            Some(Next::Follow("app/referrers/sha256:ab?n=2".into()))
        );
        assert_eq!(
            next(r#"<http://127.0.0.1:5000/v2/app/referrers/x?last=y>; rel="next""#),
            Some(Next::Follow("app/referrers/x?last=y".into()))
        );
        assert_eq!(
            next(r#"</v2/a>; rel="prev", </v2/b>; rel=next"#),
            Some(Next::Follow("b".into()))
        );
        assert_eq!(next(r#"</v2/a>; rel="prev""#), None);
        for (link, why) in [
            (
                r#"<https://elsewhere.example/v2/app/referrers/x>; rel="next""#,
                "another host",
            ),
            (
                r#"<http://127.0.0.1:5001/v2/x>; rel="next""#,
                "another host",
            ),
            (r#"</other/x>; rel="next""#, "outside /v2/"),
            (r#"/v2/x; rel="next""#, "not a <URL>"),
        ] {
            match next(link) {
                Some(Next::Unfollowable(w)) => assert!(w.contains(why), "{link}: {w}"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }
}
