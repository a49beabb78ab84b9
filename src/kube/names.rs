//! The names a Job manifest carries, checked against Kubernetes' rules here so a typo is one line
//! from rbench instead of a rejected `kubectl apply`.

use super::{KubeError, SecretRef};

const LABEL_RULE: &str = "must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, \
                          starting and ending with a letter or digit";
const SUBDOMAIN_RULE: &str = "must be a DNS-1123 subdomain: at most 253 characters of a-z, 0-9, \
                              `-` and `.`, each dot-separated part starting and ending with a \
                              letter or digit";
const KEY_RULE: &str = "a Secret's key is made of A-Z, a-z, 0-9, `-`, `_` and `.`";

/// Lowercase letters, digits and inner dashes (a DNS-1123 label without its length limit).
fn label_chars(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A DNS-1123 label: namespaces, Job names.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && label_chars(s)
}

/// A DNS-1123 subdomain: Secrets and PersistentVolumeClaims.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(label_chars)
}

fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn namespace(s: &str) -> Result<String, KubeError> {
    if is_dns_label(s) {
        Ok(s.to_string())
    } else {
        Err(bad("--namespace", s, LABEL_RULE))
    }
}

/// A Secret's or a PersistentVolumeClaim's name given with `flag`.
pub fn object(flag: &'static str, s: &str) -> Result<String, KubeError> {
    if is_dns_subdomain(s) {
        Ok(s.to_string())
    } else {
        Err(bad(flag, s, SUBDOMAIN_RULE))
    }
}

/// `--password-secret NAME[:KEY]`.
pub fn secret_ref(s: &str) -> Result<SecretRef, KubeError> {
    let (name, key) = s.split_once(':').unwrap_or((s, "password"));
    let name = object("--password-secret", name)?;
    if !is_secret_key(key) {
        return Err(bad("--password-secret", s, KEY_RULE));
    }
    Ok(SecretRef {
        name,
        key: key.to_string(),
    })
}

/// The file name of a TLS file flag's path: its key in `--tls-secret`'s Secret.
pub fn tls_key(flag: &'static str, path: &str) -> Result<String, KubeError> {
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if is_secret_key(name) {
        Ok(name.to_string())
    } else {
        Err(KubeError::TlsFile {
            flag,
            path: path.to_string(),
            why: "its file name is its key in --tls-secret's Secret, and a Secret's key is made \
                  of A-Z, a-z, 0-9, `-`, `_` and `.`",
        })
    }
}

/// A run id for the Job: what `--run-id` allows, and a label value too (it labels the pods).
pub fn run_id(id: &str) -> Result<String, KubeError> {
    crate::shard::check_run_id(id).map_err(KubeError::RunId)?;
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if id.len() > 63 || !ends_ok(id.chars().next()) || !ends_ok(id.chars().last()) {
        return Err(KubeError::RunId(format!(
            "--run-id `{id}`: it labels the Job's pods, so it must be at most 63 characters and \
             start and end with a letter or digit"
        )));
    }
    Ok(id.to_string())
}

/// An image reference: anything without spaces or control characters (the registry judges the rest).
pub fn image(s: &str) -> Result<String, KubeError> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "--image",
            s,
            "must be an image reference such as registry.example/rbench:0.1.0",
        ));
    }
    Ok(s.to_string())
}

/// `rbench-` and the run id as a DNS-1123 label, short enough that the pods' host names
/// (`NAME-INDEX`, also labels) fit in 63 characters.
pub fn job_name(run_id: &str, workers: u32) -> String {
    let index_len = (workers.saturating_sub(1)).to_string().len();
    let max = 63 - 1 - index_len;
    let mut name: String = format!("rbench-{run_id}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .take(max)
        .collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

fn bad(flag: &'static str, value: &str, rule: &'static str) -> KubeError {
    KubeError::Name {
        flag,
        value: value.to_string(),
        rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_dns_labels() {
        assert_eq!(
            job_name("20261204T090000Z-s3", 3),
            "rbench-20261204t090000z-s3"
        );
        assert_eq!(job_name("Load_Test.v2", 4), "rbench-load-test-v2");
        let long = "a".repeat(60) + "-b";
        let name = job_name(&long, 100);
        assert_eq!(name.len(), 63 - 1 - 2);
        assert!(is_dns_label(&name) && is_dns_label(&format!("{name}-99")));
        // Truncation never leaves a trailing dash.
        let dashy = format!("{}-{}", "a".repeat(53), "b".repeat(9));
        let name = job_name(&dashy, 1);
        assert!(is_dns_label(&name), "{name}");
        assert!(is_dns_label(&format!("{name}-0")));
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(is_dns_label("prod-1") && !is_dns_label("Prod") && !is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)) && !is_dns_label(""));
        assert!(is_dns_subdomain("redis.auth-1") && !is_dns_subdomain("redis..auth"));
        assert!(!is_dns_subdomain("a_b") && !is_dns_subdomain("a."));
        assert!(namespace("load").is_ok() && namespace("Load").is_err());
        assert!(object("--results-pvc", "results").is_ok());
        assert!(object("--results-pvc", "my results").is_err());
    }

    #[test]
    fn password_secrets_default_their_key() {
        let r = secret_ref("redis-auth").unwrap();
        assert_eq!(
            (r.name.as_str(), r.key.as_str()),
            ("redis-auth", "password")
        );
        let r = secret_ref("redis-auth:REDIS_PASSWORD").unwrap();
        assert_eq!(r.key, "REDIS_PASSWORD");
        for bad in ["", ":key", "Redis:pw", "redis:", "redis:a/b", "redis:.."] {
            assert!(secret_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_ids_must_be_label_values() {
        assert!(run_id("nightly-2026.12.04").is_ok());
        for bad in ["", "x-", "_x", ".x", "a b", "a/b", &"a".repeat(64)] {
            assert!(run_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_keys_are_file_names() {
        assert_eq!(tls_key("--cacert", "/etc/ssl/ca.crt").unwrap(), "ca.crt");
        assert_eq!(tls_key("--key", "client.key").unwrap(), "client.key");
        assert!(tls_key("--cert", "/tmp/my cert.pem").is_err());
        assert!(tls_key("--cert", "/").is_err());
    }
}
