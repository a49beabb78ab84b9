//! The compose files cannot be started here (no Docker engine), so they are validated offline by
//! scripts/check-compose.py: a typo in a shipped file fails the build.

use crate::support;

fn check(dir: &std::path::Path) -> (i32, String) {
    support::python_script("check-compose.py", &[dir])
}

#[test]
fn shipped_compose_files_are_valid() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/compose"));
    let (code, text) = check(dir);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("compose: 4 files ok"), "{text}");
}

#[test]
fn a_typo_is_caught() {
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/compose"));
    let dir = std::env::temp_dir().join(format!("rbench-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let f = dir.join("cluster.yml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replacen("healthcheck:", "healthchek:", 1)).unwrap();
    let (code, out) = check(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cluster.yml"), "{out}");
}
