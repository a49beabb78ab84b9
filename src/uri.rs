//! `-u redis://[user:password@]host[:port][/db]` (and `rediss://` for TLS), read as redis-cli and
//! redis-benchmark read it: a userinfo without `:` is a password, user and password are
//! percent-decoded, an IPv6 host is bracketed.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisUri {
    pub tls: bool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbnum: Option<u32>,
}

pub fn parse(uri: &str) -> Result<RedisUri, String> {
    let bad = |why: &str| format!("bad -u `{}`: {why}", redact(uri));
    let (tls, rest) = if let Some(r) = uri.strip_prefix("rediss://") {
        (true, r)
    } else if let Some(r) = uri.strip_prefix("redis://") {
        (false, r)
    } else {
        return Err(bad(
            "expected redis://[user:password@]host[:port][/db] or rediss://",
        ));
    };
    let mut out = RedisUri {
        tls,
        ..RedisUri::default()
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let hostport = match authority.rsplit_once('@') {
        Some((info, hp)) => {
            let (user, pass) = match info.split_once(':') {
                Some((u, p)) => (Some(u), p),
                None => (None, info),
            };
            out.user = user
                .filter(|u| !u.is_empty())
                .map(decode)
                .transpose()
                .map_err(|e| bad(&e))?;
            out.password = Some(decode(pass).map_err(|e| bad(&e))?).filter(|p| !p.is_empty());
            hp
        }
        None => authority,
    };
    let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
    out.host = Some(host).filter(|h| !h.is_empty());
    out.port = port;
    let db = path.split(['?', '#']).next().unwrap_or("");
    if !db.is_empty() {
        out.dbnum = Some(
            db.parse()
                .map_err(|_| bad(&format!("database `{db}` is not a number")))?,
        );
    }
    Ok(out)
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(r) = hp.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("unclosed [ in the host")?;
        (h, after.strip_prefix(':'))
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse()
                .map_err(|_| format!("port `{p}` is not a number from 0 to 65535"))?,
        ),
        None => None,
    };
    Ok((host.to_string(), port))
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "user or password is not UTF-8".to_string())
}

/// The URI with its password hidden, for error lines.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}<credentials>{}", &uri[..s + 3], &uri[at..]),
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        let u = parse("redis://app:s%40cret@db.local:6380/3").unwrap();
        assert_eq!(
            u,
            RedisUri {
                tls: false,
                host: Some("db.local".into()),
                port: Some(6380),
                user: Some("app".into()),
                password: Some("s@cret".into()),
                dbnum: Some(3),
            }
        );
        let u = parse("rediss://:pw@[::1]:7000").unwrap();
        assert!(u.tls && u.user.is_none());
        assert_eq!((u.host.as_deref(), u.port), (Some("::1"), Some(7000)));
        assert_eq!(u.password.as_deref(), Some("pw"));
        let u = parse("redis://pw@localhost").unwrap();
        assert_eq!((u.password.as_deref(), u.port), (Some("pw"), None));
        assert_eq!(parse("redis://h/").unwrap().dbnum, None);
    }

    #[test]
    fn bad_uris_name_the_problem_without_the_password() {
        for (uri, why) in [
            ("http://h", "expected redis://"),
            ("redis://h:port", "port `port`"),
            ("redis://h/x", "database `x`"),
            ("redis://[::1:6379", "unclosed ["),
            ("redis://u:%zz@h", "% not followed"),
        ] {
            let e = parse(uri).unwrap_err();
            assert!(e.contains(why), "{uri}: {e}");
        }
        let e = parse("redis://u:hunter2@h:x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
