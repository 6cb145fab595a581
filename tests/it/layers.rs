//! The code's layering rule, checked on the source tree.
//!
//! `app/src` is built in one-way layers; a module may use its own layer and
//! the layers below it, never one above:
//!
//! | rank | layer | what |
//! |---|---|---|
//! | 6 | `ui` | pages, components, shell and router |
//! | 5 | `web` | state, form handling, request sessions, connect pages |
//! | 4 | `services` | use cases |
//! | 3 | `store` | SQL, one module per table family |
//! | 2 | `domain` | types and rules without I/O |
//! | 1 | `infra` | database pool, keyring, caches, HTTP client |
//! | 0 | `catalogue`, `util` | leaves any layer may use |
//!
//! Besides: no module of `app` or of the root package (`src`) takes part in
//! an import cycle, and neither the UI nor the web layer holds SQL (or names
//! sqlx): queries belong to the stores and services. Test code
//! (`#[cfg(test)] mod tests`) is left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

const LAYERS: &[(&str, u8)] = &[
    ("util", 0),
    ("catalogue", 0),
    ("infra", 1),
    ("domain", 2),
    ("store", 3),
    ("services", 4),
    ("web", 5),
    ("ui", 6),
];

fn rank(module: &str) -> Option<u8> {
    let top = module.split("::").next()?;
    LAYERS
        .iter()
        .find(|(name, _)| *name == top)
        .map(|(_, r)| *r)
}

/// A crate's modules (`a::b`, one per file) and their source text.
fn modules(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(parts.join("::"), without_tests(&strip_comments(&text)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The text without comments and string literals (kept as `""`).
fn strip_comments(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            ('/', Some('/')) => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ('"', _) => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    i += if b[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            ('r', Some('#')) if b.get(i + 2) == Some(&'"') => {
                i += 3;
                while i + 1 < b.len() && !(b[i] == '"' && b[i + 1] == '#') {
                    i += 1;
                }
                i += 2;
                out.push_str("\"\"");
            }
            ('\'', _) if b.get(i + 2) == Some(&'\'') => {
                // a char literal such as '{'
                i += 3;
                out.push_str("' '");
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The text without `#[cfg(test)] mod … { … }` blocks.
fn without_tests(text: &str) -> String {
    let mut out = text.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|i| at + i) else {
            break;
        };
        let mut depth = 0;
        let mut end = out.len();
        for (i, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// Every path a module names through `crate::…` or `super::…`, resolved to
/// a path from the crate root (`store::connections::record_event`).
fn paths(module: &str, text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(anchor).map(|p| from + p) {
            from = pos + anchor.len();
            if text[..pos].ends_with(|c: char| ident(c) || c == ':') {
                continue;
            }
            let base: Vec<&str> = if anchor == "crate::" {
                Vec::new()
            } else {
                let mut parts: Vec<&str> = module.split("::").collect();
                parts.pop();
                parts
            };
            let rest = &text[from..];
            let prefix = base.join("::");
            let join = |p: &str| {
                if prefix.is_empty() {
                    p.to_string()
                } else {
                    format!("{prefix}::{p}")
                }
            };
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 || (depth == 1 && c == ',') {
                        let head: String = item
                            .trim()
                            .split(|c: char| !(ident(c) || c == ':'))
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(':')
                            .to_string();
                        if !head.is_empty() {
                            found.insert(join(&head));
                        }
                        item.clear();
                        if depth == 0 {
                            break;
                        }
                    } else {
                        item.push(c);
                    }
                }
            } else {
                let head: String = rest
                    .split(|c: char| !(ident(c) || c == ':'))
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(':')
                    .to_string();
                found.insert(join(&head));
            }
        }
    }
    found
}

/// The module a path lands in: its longest prefix that is a module.
fn target(path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| known.contains_key(candidate))
}

/// Module → the modules it imports (itself and the crate root left out).
fn graph(known: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    known
        .iter()
        .map(|(module, text)| {
            let deps = paths(module, text)
                .iter()
                .filter_map(|p| target(p, known))
                .filter(|t| t != module && !t.is_empty())
                .filter(|t| !module.starts_with(&format!("{t}::")))
                .collect();
            (module.clone(), deps)
        })
        .collect()
}

/// Each cycle found by a depth-first search, as `a -> b -> a`.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            found.push(cycle.join(" -> "));
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, found);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn crate_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn each_layer_imports_only_itself_and_the_layers_below() {
    let known = modules(&crate_dir("app/src"));
    let mut wrong = Vec::new();
    for (module, deps) in graph(&known) {
        let Some(from) = rank(&module) else {
            assert!(
                module.is_empty(),
                "app/src/{module}: every module belongs to a layer ({LAYERS:?})"
            );
            continue;
        };
        for dep in deps {
            let to = rank(&dep).unwrap_or(0);
            if to > from {
                wrong.push(format!(
                    "{module} (layer {from}) imports {dep} (layer {to})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_takes_part_in_a_cycle() {
    for dir in ["app/src", "src"] {
        let found = cycles(&graph(&modules(&crate_dir(dir))));
        assert!(
            found.is_empty(),
            "import cycles in {dir}:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn ui_and_web_hold_no_sql() {
    let known = modules(&crate_dir("app/src"));
    let raw: Vec<(String, String)> = known
        .keys()
        .filter(|m| m.starts_with("ui") || m.starts_with("web"))
        .map(|m| {
            let path = crate_dir("app/src").join(m.replace("::", "/"));
            let file = if path.is_dir() {
                path.join("mod.rs")
            } else {
                path.with_extension("rs")
            };
            (m.clone(), std::fs::read_to_string(file).unwrap())
        })
        .collect();
    let mut wrong = Vec::new();
    for (module, text) in raw {
        let code = strip_comments(&text);
        if code.contains("sqlx") {
            wrong.push(format!("{module} uses sqlx"));
        }
        for keyword in ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"] {
            if text.contains(&format!("\"{keyword}")) {
                wrong.push(format!("{module} holds a query ({keyword})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL above the stores:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    let text = strip_comments(
        "// crate::ui::App\nuse crate::{store::{a, b}, web::state::AppState};\nuse super::x;\nlet s = \"crate::ui\";",
    );
    let found = paths("services::tokens", &text);
    assert!(found.contains("store"), "{found:?}");
    assert!(found.contains("web::state::AppState"), "{found:?}");
    assert!(found.contains("services::x"), "{found:?}");
    assert!(!found.iter().any(|p| p.starts_with("ui")), "{found:?}");
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&graph), vec!["a -> b -> a".to_string()]);
}
