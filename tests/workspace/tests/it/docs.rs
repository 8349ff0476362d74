//! The docs say what the code does:
//! * the root README's two Mermaid diagrams are `statemachine/backup.asl.json` (the parent) and
//!   `statemachine/backup-source.asl.json` (the child), in that order — each generated from its
//!   definition by `workspace_tests::diagram`, and also checked state by state and transition by
//!   transition;
//! * the errorType tables are what the binaries print with `--error-types`: each step's README
//!   lists exactly its own errorTypes, the shared tables (root README, `steps/kit/README.md`)
//!   exactly those every step prints, onboard-source's README exactly its error enum's;
//! * every relative link in a README or `docs/*.md` reaches a file (and a heading, if it names
//!   one);
//! * every code block of a crate's README names its language, since the README is also the
//!   crate's rustdoc, where an untagged block is compiled as a Rust doctest.
//!
//! The errorType convention: under a heading `## Errors`, the first table's first column holds
//! one backticked errorType per row. `LAKEVAULT_UPDATE_DOCS=1` rewrites the README's diagrams.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::statemachine::{BACKUP_SOURCE, source_definition};
use crate::support::{all_states, definition, step_packages};
use workspace_tests::diagram::{mermaid, node_id};

fn root() -> PathBuf {
    harness::workspace_root()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fenced code block: its info string, its text, and the byte range of that text.
struct Fence {
    info: String,
    text: String,
    body: std::ops::Range<usize>,
    line: usize,
}

/// Every fenced (```` ``` ````) code block of a Markdown text.
fn fences(markdown: &str) -> Vec<Fence> {
    let mut found = Vec::new();
    let mut open: Option<(String, usize, usize)> = None;
    let mut offset = 0;
    for (n, line) in markdown.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        match &open {
            None if trimmed.starts_with("```") => {
                open = Some((
                    trimmed.trim_start_matches('`').trim().to_owned(),
                    offset + line.len(),
                    n + 1,
                ));
            }
            Some((info, start, first)) if trimmed == "```" => {
                found.push(Fence {
                    info: info.clone(),
                    text: markdown[*start..offset].to_owned(),
                    body: *start..offset,
                    line: *first,
                });
                open = None;
            }
            _ => {}
        }
        offset += line.len();
    }
    assert!(open.is_none(), "a code block is never closed");
    found
}

/// The lines of a Markdown text that are not inside a fenced code block.
fn prose_lines(markdown: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for (n, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            out.push((n + 1, line));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// (a) The diagram.

/// The README's diagrams, in order: (definition file, its definition).
fn diagrammed() -> [(&'static str, serde_json::Value); 2] {
    [
        ("statemachine/backup.asl.json", definition()),
        (BACKUP_SOURCE, source_definition()),
    ]
}

/// The README's mermaid blocks, in order.
fn readme_diagrams(readme: &str) -> Vec<Fence> {
    fences(readme)
        .into_iter()
        .filter(|f| f.info == "mermaid")
        .collect()
}

#[test]
fn the_readme_diagrams_are_generated_from_the_definitions() {
    let path = root().join("README.md");
    let readme = read(&path);
    let blocks = readme_diagrams(&readme);
    let machines = diagrammed();
    assert_eq!(
        blocks.len(),
        machines.len(),
        "README.md has one mermaid block per state machine: the parent's, then the child's"
    );
    let wants: Vec<String> = machines.iter().map(|(_, d)| mermaid(d)).collect();
    let differ = blocks.iter().zip(&wants).any(|(b, w)| &b.text != w);
    if differ && std::env::var_os("LAKEVAULT_UPDATE_DOCS").is_some() {
        let mut updated = readme.clone();
        // From the end, so the earlier ranges stay valid.
        for (block, want) in blocks.iter().zip(&wants).rev() {
            updated.replace_range(block.body.clone(), want);
        }
        std::fs::write(&path, updated).expect("README.md is writable");
        return;
    }
    for ((block, want), (file, _)) in blocks.iter().zip(&wants).zip(&machines) {
        assert!(
            &block.text == want,
            "README.md's diagram (line {}) is not {file}'s. Replace the block with this one (or \
             run the test with LAKEVAULT_UPDATE_DOCS=1):\n\n```mermaid\n{want}```\n",
            block.line
        );
    }
}

/// What the diagram's Mermaid text draws: node ids, and edges as (from, to) ids.
fn drawn(mermaid_text: &str) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    /// The node id a node reference starts with (`LocateManifest["LocateManifest"]`).
    fn id_of(reference: &str) -> String {
        reference
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    }
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for line in mermaid_text.lines().map(str::trim) {
        if line.is_empty() || line == "end" || line.starts_with("flowchart") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            nodes.insert(id_of(rest));
            continue;
        }
        let arrow = [" --> ", " -.-> ", " -->|", " -.->|"]
            .iter()
            .filter_map(|a| line.find(a).map(|at| (at, *a)))
            .min();
        match arrow {
            None => {
                nodes.insert(id_of(line));
            }
            Some((at, a)) => {
                let from = id_of(&line[..at]);
                let mut rest = &line[at + a.len()..];
                if a.ends_with('|') {
                    let close = rest.find('|').expect("an edge label is closed");
                    rest = &rest[close + 1..];
                }
                let to = id_of(rest);
                nodes.insert(from.clone());
                nodes.insert(to.clone());
                edges.insert((from, to));
            }
        }
    }
    (nodes, edges)
}

/// Every state of a definition as a node id, every transition (Next, Default, Choice rules,
/// Catch routes) as a pair of node ids.
fn states_and_transitions(
    def: &serde_json::Value,
) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut states = BTreeSet::new();
    let mut transitions = BTreeSet::new();
    for (name, state) in all_states(def) {
        assert!(
            states.insert(node_id(&name)),
            "two states share the node id {}",
            node_id(&name)
        );
        let mut targets: Vec<&str> = Vec::new();
        targets.extend(state["Next"].as_str());
        targets.extend(state["Default"].as_str());
        for rule in state["Choices"].as_array().into_iter().flatten() {
            targets.extend(rule["Next"].as_str());
        }
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            targets.extend(catcher["Next"].as_str());
        }
        for to in targets {
            transitions.insert((node_id(&name), node_id(to)));
        }
    }
    (states, transitions)
}

#[test]
fn the_readme_diagrams_have_every_state_and_transition_and_nothing_else() {
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let readme = read(&root().join("README.md"));
    let blocks = readme_diagrams(&readme);
    assert_eq!(blocks.len(), 2, "the parent's diagram, then the child's");
    for (block, (file, def)) in blocks.iter().zip(diagrammed()) {
        let (states, transitions) = states_and_transitions(&def);
        // The definitions are what the test expects them to be: the parent a Map whose states
        // are drawn inside it, the child one chain with its polling loop.
        if file == BACKUP_SOURCE {
            assert!(states.contains("LocateManifest") && states.contains("JobPollingExhausted"));
            assert!(transitions.contains(&pair("CountPoll", "AwaitJob")));
        } else {
            assert!(states.contains("BackUpEachSource") && states.contains("BackUpSource"));
            assert!(transitions.contains(&pair("BackUpSource", "ChildFailed_")));
            assert!(transitions.contains(&pair("BackUpEachSource", "Summary")));
        }
        let (nodes, edges) = drawn(&block.text);
        let missing: Vec<_> = states.difference(&nodes).collect();
        let extra: Vec<_> = nodes.difference(&states).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}'s diagram nodes: missing states {missing:?}, not states {extra:?}"
        );
        let missing: Vec<_> = transitions.difference(&edges).collect();
        let extra: Vec<_> = edges.difference(&transitions).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}'s diagram edges: missing transitions {missing:?}, not transitions {extra:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (b) The errorType tables.

/// The errorTypes documented in a Markdown file: the first column of the first table under
/// `## Errors`, one backticked name per row.
fn documented_error_types(path: &Path) -> BTreeSet<String> {
    let text = read(path);
    let shown = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let lines = prose_lines(&text);
    let start = lines
        .iter()
        .position(|(_, l)| l.trim_end() == "## Errors")
        .unwrap_or_else(|| panic!("{shown} has no `## Errors` heading"));
    let mut rows = Vec::new();
    for (n, line) in &lines[start + 1..] {
        if line.starts_with("## ") || line.starts_with("# ") {
            break;
        }
        if line.trim_start().starts_with('|') {
            rows.push((*n, line.trim()));
        } else if !rows.is_empty() {
            break;
        }
    }
    assert!(
        rows.len() > 2,
        "{shown}: no errorType table under `## Errors`"
    );
    let mut found = BTreeSet::new();
    // rows[0] is the header, rows[1] the `| --- |` separator.
    for (n, row) in &rows[2..] {
        let cell = row
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        let name = cell
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
            .unwrap_or_else(|| {
                panic!("{shown}:{n}: the first cell of an errorType row is one backticked name, not {cell:?}")
            });
        assert!(
            found.insert(name.to_owned()),
            "{shown}:{n}: {name} listed twice"
        );
    }
    found
}

/// What `target/debug/<step> --error-types` prints.
fn printed_error_types(step: &str) -> BTreeSet<String> {
    let bin = harness::bin(step);
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("--error-types")
        .output()
        .unwrap_or_else(|e| panic!("{} --error-types: {e}", bin.display()));
    assert!(out.status.success(), "{step} --error-types failed");
    let printed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!printed.is_empty(), "{step} printed no errorType");
    printed
}

/// Every step's printed errorTypes, by step.
fn every_step_prints() -> BTreeMap<String, BTreeSet<String>> {
    let steps: BTreeMap<String, BTreeSet<String>> = workspace_tests::steps()
        .iter()
        .map(|s| (s.name.to_owned(), printed_error_types(s.name)))
        .collect();
    assert_eq!(
        steps.keys().cloned().collect::<BTreeSet<_>>(),
        step_packages(),
        "every step package is a registered step"
    );
    steps
}

/// The errorTypes every step prints.
fn shared(steps: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut all = steps.values();
    let first = all.next().cloned().unwrap_or_default();
    all.fold(first, |acc, s| acc.intersection(s).cloned().collect())
}

fn assert_lists(path: &Path, want: &BTreeSet<String>, what: &str) {
    let have = documented_error_types(path);
    let shown = path.strip_prefix(root()).unwrap_or(path).display();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{shown}'s `## Errors` table must list exactly {what} {want:?}: missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn each_step_readme_lists_exactly_its_own_error_types() {
    let steps = every_step_prints();
    let shared = shared(&steps);
    for (step, printed) in &steps {
        let own: BTreeSet<String> = printed.difference(&shared).cloned().collect();
        assert_lists(
            &root().join("steps").join(step).join("README.md"),
            &own,
            &format!("the errorTypes {step} --error-types prints that not every step prints:"),
        );
    }
}

#[test]
fn the_shared_error_tables_list_exactly_what_every_step_emits() {
    let shared = shared(&every_step_prints());
    // The entry point's own errorTypes are shared by construction.
    for t in kit::error::ENTRY_ERROR_TYPES {
        assert!(shared.contains(*t), "{t} is not printed by every step");
    }
    for readme in ["README.md", "steps/kit/README.md"] {
        assert_lists(
            &root().join(readme),
            &shared,
            "the errorTypes every step's --error-types prints:",
        );
    }
}

#[test]
fn onboard_source_readme_lists_its_error_types() {
    use kit::StepError;
    let want: BTreeSet<String> = <onboard_source::OnboardError as StepError>::error_types()
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    assert_lists(
        &root().join("tools/onboard-source/README.md"),
        &want,
        "OnboardError's errorTypes:",
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Links, and code blocks that rustdoc would compile.

/// Every README.md of the repository and every Markdown file under docs/, sorted.
fn doc_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                // Tool state and third-party trees, not the project's docs.
                if !name.starts_with('.')
                    && !matches!(name.as_str(), "target" | "node_modules" | "dist")
                {
                    walk(&path, out);
                }
            } else if name == "README.md" {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut found = Vec::new();
    walk(&root, &mut found);
    for entry in std::fs::read_dir(root.join("docs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// A line with its inline code spans blanked out (a link inside backticks is not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The destinations of the inline links and images of a Markdown text, with their line.
fn links(markdown: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose_lines(markdown) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let dest = after[..end].split_whitespace().next().unwrap_or("");
            found.push((n, dest.to_owned()));
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (repeated headings get `-1`, `-2`, … as on GitHub).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(markdown) {
        let Some(text) = line.strip_prefix('#') else {
            continue;
        };
        let text = text.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let base = slug(text);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = root();
    let files = doc_files();
    assert!(
        files.len() >= 15,
        "found only {} Markdown files: {files:?}",
        files.len()
    );
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (n, dest) in links(&text) {
            if dest.is_empty() || dest.contains("://") || dest.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match dest.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (dest.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(&root).join(path)
            };
            if !target.exists() {
                broken.push(format!("{shown}:{n}: {dest}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&target)).contains(anchor)
            {
                broken.push(format!("{shown}:{n}: {dest}: no heading #{anchor} there"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_code_block_of_a_crate_readme_names_its_language() {
    let root = root();
    let mut untagged = Vec::new();
    for file in doc_files() {
        // A crate's README is its rustdoc (`#![doc = include_str!("../README.md")]`).
        if !file.parent().is_some_and(|d| d.join("Cargo.toml").exists()) {
            continue;
        }
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for fence in fences(&read(&file)) {
            if fence.info.is_empty() {
                untagged.push(format!("{shown}:{}", fence.line));
            }
        }
    }
    assert!(
        untagged.is_empty(),
        "code blocks without a language (rustdoc would compile them as Rust doctests; use \
         ```text, ```sh, ```json): {untagged:?}"
    );
}

#[test]
fn the_markdown_helpers_read_what_they_should() {
    assert_eq!(slug("Deploy to AWS (`infra/`)"), "deploy-to-aws-infra");
    assert_eq!(slug("`make demo`"), "make-demo");
    let md = "# A\n\nSee [b](b.md#x) and `[not](a-link)`.\n\n```text\n[nor](this)\n```\n## A\n";
    assert_eq!(links(md), vec![(3, "b.md#x".to_owned())]);
    assert_eq!(
        anchors(md),
        ["a".to_owned(), "a-1".to_owned()].into_iter().collect()
    );
    let (nodes, edges) = drawn(
        "flowchart TD\n    subgraph M [\"M\"]\n        A[\"A\"] -->|\"x > 1\"| B(\"B\")\n        A -.->|\"catch\"| C([\"C\"])\n    end\n    M --> D\n",
    );
    assert_eq!(
        nodes,
        ["A", "B", "C", "D", "M"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert_eq!(edges.len(), 3);
}
