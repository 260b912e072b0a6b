//! One version, everywhere: `Cargo.toml`, `metadata.yml`'s `io.kubewarden.policy.version`,
//! `artifacthub-pkg.yml` (its version and every `:v<version>` reference in it), the README's
//! `module:` references and a `CHANGELOG.md` section. With env `RELEASE_VERSION` (what
//! `make release-check VERSION=x.y.z` sets), that candidate must be the version, its
//! `CHANGELOG.md` section dated and `[Unreleased]` empty.

mod common;

use serde_json::Value;

/// `version = "…"` of the `[package]` table of a Cargo.toml.
fn cargo_version(text: &str) -> String {
    let package = text.split("[package]").nth(1).unwrap();
    let table = package.split("\n[").next().unwrap();
    table
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_string()
}

/// Every version written in `text` as `immutable-images:v<x.y.z>` (an image tag) or
/// `refs/tags/v<x.y.z>` (the signing identity); placeholders such as `v<version>` or `vx.y.z`
/// (not starting with a digit) are not versions.
fn tagged_versions(text: &str) -> Vec<String> {
    ["immutable-images:v", "refs/tags/v"]
        .iter()
        .flat_map(|prefix| text.match_indices(prefix))
        .map(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
                .collect::<String>()
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// The files the version is written in, by name.
type Files = std::collections::BTreeMap<&'static str, String>;

const FILES: [&str; 6] = [
    "Cargo.toml",
    "e2e-tests/Cargo.toml",
    "metadata.yml",
    "artifacthub-pkg.yml",
    "README.md",
    "CHANGELOG.md",
];

fn workspace_files() -> Files {
    FILES
        .iter()
        .map(|name| (*name, common::workspace_file(name)))
        .collect()
}

/// Every place where `files` disagree with their `Cargo.toml` version (or with `candidate`).
fn disagreements(files: &Files, candidate: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let version = cargo_version(&files["Cargo.toml"]);
    if version.split('.').count() != 3 || version.split('.').any(|p| p.is_empty()) {
        out.push(format!("Cargo.toml version {version:?} is not x.y.z"));
    }
    if let Some(candidate) = candidate
        && candidate.trim_start_matches('v') != version
    {
        out.push(format!(
            "the release candidate {candidate} is not the version in Cargo.toml, {version}"
        ));
    }
    let e2e = cargo_version(&files["e2e-tests/Cargo.toml"]);
    if e2e != version {
        out.push(format!("e2e-tests/Cargo.toml has {e2e}"));
    }

    let metadata: Value = serde_norway::from_str(&files["metadata.yml"]).unwrap();
    let declared = &metadata["annotations"]["io.kubewarden.policy.version"];
    if declared != version.as_str() {
        out.push(format!(
            "metadata.yml io.kubewarden.policy.version is {declared}"
        ));
    }

    let artifacthub_text = &files["artifacthub-pkg.yml"];
    let artifacthub: Value = serde_norway::from_str(artifacthub_text).unwrap();
    if artifacthub["version"] != version.as_str() {
        out.push(format!(
            "artifacthub-pkg.yml version is {}",
            artifacthub["version"]
        ));
    }
    let in_artifacthub = tagged_versions(artifacthub_text);
    if in_artifacthub.is_empty() || in_artifacthub.iter().any(|v| *v != version) {
        out.push(format!("artifacthub-pkg.yml references {in_artifacthub:?}"));
    }
    let release_link = format!("/releases/download/v{version}/");
    if !artifacthub_text.contains(&release_link) {
        out.push(format!("artifacthub-pkg.yml links no {release_link}"));
    }

    let readme = &files["README.md"];
    if !readme
        .lines()
        .any(|l| l.trim_start().starts_with("module: registry://"))
    {
        out.push("the README shows no module: reference".into());
    }
    let in_readme = tagged_versions(readme);
    if in_readme.iter().any(|v| *v != version) {
        out.push(format!("README references {in_readme:?}"));
    }

    let changelog = &files["CHANGELOG.md"];
    let unreleased = changelog_section(changelog, "Unreleased");
    match changelog_section(changelog, &version) {
        None => out.push(format!("CHANGELOG.md has no section for {version}")),
        // A release takes its notes from its section: it must be dated, and nothing may be
        // left under [Unreleased] (it would be released without being in the notes).
        Some((date, _)) if candidate.is_some() => {
            if !is_iso_date(date) {
                out.push(format!(
                    "CHANGELOG.md section {version} is dated {date:?}, not YYYY-MM-DD"
                ));
            }
            match unreleased {
                Some((_, body)) if body.lines().any(|l| l.starts_with("- ")) => out.push(
                    "CHANGELOG.md has entries under [Unreleased]: move them to the release".into(),
                ),
                _ => {}
            }
        }
        Some(_) => {}
    }
    if unreleased.is_none() {
        out.push("CHANGELOG.md has no [Unreleased] section".into());
    }
    out
}

/// The heading's text after `## [name] - ` (empty for `## [name]`) and the lines up to the
/// next `## ` heading.
fn changelog_section<'a>(changelog: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let heading = format!("\n## [{name}]");
    let start = changelog.find(&heading)? + heading.len();
    let rest = &changelog[start..];
    let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
    if !(line.is_empty() || line.starts_with(" - ")) {
        return None;
    }
    let body = body.split("\n## ").next().unwrap_or_default();
    Some((line.trim_start_matches(" - ").trim(), body))
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The check itself: env `RELEASE_VERSION` (set by `make release-check VERSION=x.y.z`) is
/// the candidate.
#[test]
fn one_version_everywhere() {
    let candidate = std::env::var("RELEASE_VERSION").ok();
    let found = disagreements(&workspace_files(), candidate.as_deref());
    assert!(found.is_empty(), "the version differs: {found:#?}");
}

/// Each file bumped alone (or left behind) is caught, and so is a wrong candidate.
#[test]
fn a_version_left_behind_anywhere_is_found() {
    let files = workspace_files();
    let version = cargo_version(&files["Cargo.toml"]);
    // As a candidate, with the CHANGELOG as a release leaves it (the section dated).
    let ready = with_changelog(&files, dated_changelog(&version, ""));
    assert!(disagreements(&ready, Some(&format!("v{version}"))).is_empty());
    assert_eq!(disagreements(&ready, Some("99.0.0")).len(), 1);
    for name in FILES {
        let mut changed = files.clone();
        let text = changed[name].replace(&version, "99.0.0");
        assert_ne!(text, changed[name], "{name} does not hold the version");
        changed.insert(name, text);
        let found = disagreements(&changed, None);
        assert!(!found.is_empty(), "bumping only {name} went unnoticed");
    }
}

/// A release candidate needs its CHANGELOG section dated and [Unreleased] emptied into it.
#[test]
fn a_release_needs_a_dated_section_and_nothing_left_unreleased() {
    let files = workspace_files();
    let version = cargo_version(&files["Cargo.toml"]);
    let dated = dated_changelog(&version, "");
    let ready = with_changelog(&files, dated.clone());
    assert!(disagreements(&ready, Some(&version)).is_empty());
    assert!(disagreements(&ready, None).is_empty());

    let undated = with_changelog(&files, dated.replace("2026-12-01", "not yet released"));
    assert!(disagreements(&undated, None).is_empty());
    let found = disagreements(&undated, Some(&version));
    assert!(found[0].contains("not YYYY-MM-DD"), "{found:?}");

    let left = with_changelog(
        &files,
        dated_changelog(&version, "### Fixed\n\n- forgotten\n"),
    );
    assert!(disagreements(&left, None).is_empty());
    let found = disagreements(&left, Some(&version));
    assert!(found[0].contains("entries under [Unreleased]"), "{found:?}");

    let other = with_changelog(&files, dated.replace(&format!("[{version}]"), "[0.0.1]"));
    assert_eq!(disagreements(&other, None).len(), 1);
}

/// A CHANGELOG with `unreleased` under [Unreleased] and `version` dated 2026-12-01.
fn dated_changelog(version: &str, unreleased: &str) -> String {
    format!(
        "# Changelog\n\n## [Unreleased]\n\n{unreleased}\n## [{version}] - 2026-12-01\n\n\
         ### Added\n\n- a thing\n"
    )
}

fn with_changelog(files: &Files, text: String) -> Files {
    let mut changed = files.clone();
    changed.insert("CHANGELOG.md", text);
    changed
}

#[test]
fn the_version_scan_finds_what_it_must() {
    assert_eq!(
        tagged_versions(
            "a immutable-images:v1.2.3 b immutable-images:v1.2.4-rc.1. \
             c immutable-images:v<version> d immutable-images:vx.y.z e refs/tags/v2.0.0`"
        ),
        vec!["1.2.3", "1.2.4-rc.1", "2.0.0"]
    );
    assert_eq!(
        cargo_version(
            "[package]\nname = \"x\"\nversion = \"2.0.1\"\n[dependencies]\nversion = \"9\""
        ),
        "2.0.1"
    );
}
