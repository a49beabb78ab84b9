//! ARCHITECTURE.md's structural rules, checked on the source itself: the top-level modules import
//! one another without a cycle, and no function is longer than a screen (80 lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 80;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The code a module compiles outside its unit tests, without comments.
fn non_test_code(text: &str) -> String {
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i]);
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names: `crate::x` and `crate::{x, y::z}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|it| ident(it.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Module → the modules it imports, for every top-level module of the crate.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in src_files() {
        let file = Path::new(&rel);
        if rel == "lib.rs" || rel == "main.rs" || file.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let first = file
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        let mut named = named_modules(&non_test_code(&text));
        named.remove(&module);
        graph.entry(module).or_default().extend(named);
    }
    graph
}

/// A path from `from` back to itself, if the graph has one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == from {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let graph = import_graph();
    assert!(graph.contains_key("engine") && graph["engine"].contains("net"));
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_and_the_names_in_a_group() {
    let named = named_modules("use crate::{net::Peer, stats};\nlet x = crate::workload::Op::Set;");
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["net", "stats", "workload"]
    );
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle_through(&g, "a"), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle_through(&g, "a").unwrap(), ["a", "b", "c", "a"]);
}

/// Each `fn` with a body, and its length in lines (signature to closing brace).
fn function_lengths(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let body = l.trim_start();
        let indent = &l[..l.len() - body.len()];
        let body = body.strip_prefix("pub ").unwrap_or(body);
        let body = body.strip_prefix("pub(crate) ").unwrap_or(body);
        let body = body.strip_prefix("pub(super) ").unwrap_or(body);
        let body = body.strip_prefix("const ").unwrap_or(body);
        let body = body.strip_prefix("async ").unwrap_or(body);
        if !body.starts_with("fn ") || l.trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{indent}}}");
        let end =
            (i..lines.len()).find(|&j| j == i && l.trim_end().ends_with('}') || lines[j] == close);
        if let Some(end) = end {
            out.push((i + 1, end - i + 1, body.to_string()));
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_a_screen() {
    let mut long = Vec::new();
    for (rel, text) in src_files() {
        for (line, len, sig) in function_lengths(&text) {
            if len > MAX_FN_LINES {
                long.push(format!("src/{rel}:{line}: {len} lines: {sig}"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_checker_counts_signature_to_brace() {
    let text = "fn a() {\n    x();\n}\n    pub fn b(\n        y: u8,\n    ) -> u8 {\n        y\n    }\nfn c();\n";
    let got: Vec<(usize, usize)> = function_lengths(text).iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(got, [(1, 3), (4, 5)]);
}
