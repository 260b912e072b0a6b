//! Settings: what users write (camelCase, unknown keys refused) and the compiled form the
//! judgement uses (globs and regexes compiled, every value checked). An instance keeps the
//! last document's compiled form ([`cached`]), which helps where the instance lives on
//! (`kwctl run`, `kwctl bench`); policy-server runs every request in a fresh instance, so
//! there the settings are compiled on every request and compiling must be cheap.

use glob::{MatchOptions, Pattern};
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use regex_lite::{Regex, RegexBuilder};
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;

/// The word in `immutableTagPatterns` that stands for a full semantic version tag.
pub const SEMVER_WORD: &str = "semver";
/// Compiled size bound for a user regex: generous for real tag patterns, refuses blow-ups.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Nesting bound for a user regex.
const REGEX_NEST_LIMIT: u32 = 50;
/// Default `pinBudgetMilliseconds`: under policy-server's 2 s evaluation limit, which counts
/// in 1 s ticks and so may stop a policy after 1 s.
pub const DEFAULT_PIN_BUDGET_MS: u64 = 900;
/// Largest `pinBudgetMilliseconds`: what the longest evaluation limit Kubewarden allows
/// (`timeoutEvalSeconds: 30`, as Kubernetes waits at most 30 s for a webhook) always leaves
/// the policy to answer in, `(30 - 1) * 1000 - 100` ms (the limit counts in 1 s ticks).
pub const MAX_PIN_BUDGET_MS: u64 = 28_900;

/// A settings value that is one of a few words: only a string with one of them is read (no
/// other JSON shape), and a wrong value or type names the words allowed.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $default:ident => $default_word:literal $(, $variant:ident => $word:literal)* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            #[default]
            $default,
            $($variant,)*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const WORDS: &[&str] = &[$default_word $(, $word)*];
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        write!(f, "one of {}", WORDS.join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        match v {
                            $default_word => Ok($name::$default),
                            $($word => Ok($name::$variant),)*
                            other => Err(E::unknown_variant(other, WORDS)),
                        }
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

word_enum!(MutableTagAction { Reject => "reject", Warn => "warn", Pin => "pin" });
word_enum!(PinFailureAction { Reject => "reject", Warn => "warn", Accept => "accept" });
word_enum!(PullPolicyAction { Mutate => "mutate", Reject => "reject", Warn => "warn", Ignore => "ignore" });
word_enum!(
    /// The list a container is in.
    ContainerType { Any => "any", Init => "init", Regular => "regular", Ephemeral => "ephemeral" }
);

/// `pinBudgetMilliseconds`: a whole number of milliseconds, at least 1 and at most
/// [`MAX_PIN_BUDGET_MS`]; any other JSON value is refused with that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinBudget(pub u64);

impl Default for PinBudget {
    fn default() -> Self {
        PinBudget(DEFAULT_PIN_BUDGET_MS)
    }
}

impl<'de> Deserialize<'de> for PinBudget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PinBudget;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a whole number of milliseconds from 1 to {MAX_PIN_BUDGET_MS}"
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PinBudget, E> {
                if (1..=MAX_PIN_BUDGET_MS).contains(&v) {
                    Ok(PinBudget(v))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PinBudget, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_u64(V)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemptContainer {
    pub name: String,
    #[serde(default, rename = "type")]
    pub container_type: ContainerType,
}

/// The settings document as users write it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RawSettings {
    pub mutable_tags: Option<Vec<String>>,
    pub immutable_tag_patterns: Vec<String>,
    pub immutable_registries: Vec<String>,
    pub mutable_tag_action: MutableTagAction,
    pub pin_immutable_tags: bool,
    pub pin_failure_action: PinFailureAction,
    pub pull_policy_action: PullPolicyAction,
    pub allow_if_not_present_when_pinned: bool,
    pub pin_budget_milliseconds: PinBudget,
    pub keep_pins_on_update: Option<bool>,
    pub pin_from_replicas: Option<bool>,
    pub exempt_images: Vec<String>,
    pub exempt_containers: Vec<ExemptContainer>,
}

/// A glob with the text it was written as (for messages).
#[derive(Debug, Clone)]
pub struct Glob {
    pub text: String,
    pattern: Pattern,
}

impl Glob {
    fn new(key: &str, index: usize, text: &str) -> Result<Glob, String> {
        Glob::matching(key, index, text, text)
    }

    /// A glob written as `text` that matches as `pattern` (`text` normalized).
    fn matching(key: &str, index: usize, text: &str, pattern: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err(format!("{key}[{index}]: empty pattern"));
        }
        let pattern = Pattern::new(pattern)
            .map_err(|e| format!("{key}[{index}]: invalid glob {text:?}: {e}"))?;
        Ok(Glob {
            text: text.to_owned(),
            pattern,
        })
    }

    pub fn matches(&self, s: &str, case_sensitive: bool) -> bool {
        matches(&self.pattern, s, case_sensitive)
    }

    /// Whether the glob as written (not normalized) matches `s`, case-sensitively: compiled
    /// here, for the rare invalid reference (the text compiled when the settings were read).
    pub fn matches_as_written(&self, s: &str) -> bool {
        Pattern::new(&self.text).is_ok_and(|p| matches(&p, s, true))
    }
}

/// Glob matching with `*` matching `/` too.
fn matches(pattern: &Pattern, s: &str, case_sensitive: bool) -> bool {
    pattern.matches_with(
        s,
        MatchOptions {
            case_sensitive,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        },
    )
}

/// Settings ready for judging: every pattern compiled, every value checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mutable_tags: Vec<Glob>,
    pub immutable_tag_patterns: Vec<TagPattern>,
    pub immutable_registries: Vec<String>,
    pub mutable_tag_action: MutableTagAction,
    pub pin_immutable_tags: bool,
    pub pin_failure_action: PinFailureAction,
    pub pull_policy_action: PullPolicyAction,
    pub allow_if_not_present_when_pinned: bool,
    pub pin_budget: std::time::Duration,
    pub keep_pins_on_update: bool,
    /// A controller's new Pod is pinned to the digest its replicas hold and run
    /// (docs/design.md, "Same bytes on every replica").
    pub pin_from_replicas: bool,
    pub exempt_images: Vec<Glob>,
    pub exempt_containers: Vec<ExemptContainer>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::compile(RawSettings::default()).expect("default settings compile")
    }
}

impl Settings {
    /// Reads and checks a settings document; the error names the offending key.
    pub fn from_json(json: &[u8]) -> Result<Settings, String> {
        let trimmed = json.trim_ascii();
        if trimmed.is_empty() || trimmed == b"null" {
            return Settings::compile(RawSettings::default());
        }
        // serde would also fill a struct from an array, by position: settings name their keys.
        if trimmed[0] != b'{' {
            return Err("the settings must be a JSON object".into());
        }
        let raw: RawSettings = read_naming_the_key(trimmed)?;
        Settings::compile(raw)
    }

    pub fn compile(raw: RawSettings) -> Result<Settings, String> {
        let mutable_tags = raw
            .mutable_tags
            .unwrap_or_else(|| vec!["latest".to_owned()])
            .iter()
            .enumerate()
            .map(|(i, t)| Glob::new("mutableTags", i, t))
            .collect::<Result<Vec<_>, _>>()?;
        let immutable_tag_patterns = raw
            .immutable_tag_patterns
            .iter()
            .enumerate()
            .map(|(i, p)| compile_tag_pattern(i, p))
            .collect::<Result<Vec<_>, _>>()?;
        let immutable_registries = raw
            .immutable_registries
            .iter()
            .enumerate()
            .map(|(i, r)| check_registry(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        let exempt_images = raw
            .exempt_images
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let normalized = crate::reference::normalize_image_glob(t);
                Glob::matching("exemptImages", i, t, &normalized)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, c) in raw.exempt_containers.iter().enumerate() {
            if c.name.is_empty() {
                return Err(format!("exemptContainers[{i}].name: must not be empty"));
            }
        }
        Ok(Settings {
            mutable_tags,
            immutable_tag_patterns,
            immutable_registries,
            mutable_tag_action: raw.mutable_tag_action,
            pin_immutable_tags: raw.pin_immutable_tags,
            pin_failure_action: raw.pin_failure_action,
            pull_policy_action: raw.pull_policy_action,
            allow_if_not_present_when_pinned: raw.allow_if_not_present_when_pinned,
            pin_budget: std::time::Duration::from_millis(raw.pin_budget_milliseconds.0),
            keep_pins_on_update: raw.keep_pins_on_update.unwrap_or(true),
            pin_from_replicas: raw.pin_from_replicas.unwrap_or(true),
            exempt_images,
            exempt_containers: raw.exempt_containers,
        })
    }
}

/// Reads a settings document with serde, and only when that fails a second time with the path
/// of the offending key tracked (`exemptContainers[0].type: unknown variant ...`): tracking
/// it on every read would cost an allocation per key.
fn read_naming_the_key<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(json).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_slice(json);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => match e.path().to_string() {
                // Not inside a key: bad syntax at the top, or the end of the input.
                path if matches!(path.as_str(), "." | "?") => e.into_inner().to_string(),
                path => format!("{path}: {}", e.into_inner()),
            },
            // Only trailing characters fail the plain pass and not this one.
            Ok(_) => plain.to_string(),
        }
    })
}

/// An `immutableTagPatterns` entry, ready to match a whole tag.
#[derive(Debug, Clone)]
pub enum TagPattern {
    /// The word `semver`: a full `MAJOR.MINOR.PATCH` version (semver.org's grammar, numbers
    /// up to 2^64-1), with an optional `v`, pre-release and build. Read by the `semver` crate
    /// rather than compiled as a regex: policy-server runs each request in a fresh instance,
    /// so settings are compiled on every request, and the regex was most of that cost.
    Semver,
    /// A user regex, anchored to the whole tag.
    Regex(Regex),
}

impl TagPattern {
    pub fn is_match(&self, tag: &str) -> bool {
        match self {
            TagPattern::Semver => {
                semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).is_ok()
            }
            TagPattern::Regex(re) => re.is_match(tag),
        }
    }
}

fn compile_tag_pattern(index: usize, pattern: &str) -> Result<TagPattern, String> {
    if pattern == SEMVER_WORD {
        return Ok(TagPattern::Semver);
    }
    if pattern.is_empty() {
        return Err(format!("immutableTagPatterns[{index}]: empty pattern"));
    }
    let build = |re: &str| {
        RegexBuilder::new(re)
            .size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            .map_err(|e| {
                let e = e.to_string();
                let last = e.lines().last().unwrap_or(&e).trim().to_owned();
                format!("immutableTagPatterns[{index}]: invalid regex {pattern:?}: {last}")
            })
    };
    // The pattern must stand on its own, so that it cannot close the anchoring group
    // (`1)|(.*` would otherwise make `^(?:1)|(.*)$`, which matches every tag). Closing it
    // takes a `)`: a pattern without one is compiled once, anchored.
    if pattern.contains(')') {
        build(pattern)?;
    }
    build(&format!("^(?:{pattern})$")).map(TagPattern::Regex)
}

/// A registry is `host[:port]` as it appears before the first `/` of a reference.
fn check_registry(index: usize, registry: &str) -> Result<String, String> {
    let bad = |why: &str| format!("immutableRegistries[{index}]: {registry:?} {why}");
    if registry.is_empty() {
        return Err(bad("is empty"));
    }
    if registry.contains("://") {
        return Err(bad("must be host[:port], without a scheme"));
    }
    if registry.contains('/') || registry.contains(char::is_whitespace) {
        return Err(bad("must be host[:port], without a path"));
    }
    // Probe with the reference parser: the registry must be one it would read back.
    let probe = format!("{registry}/probe:1");
    match crate::reference::ImageRef::parse(&probe) {
        Ok(r) if r.registry.eq_ignore_ascii_case(registry) || registry == "index.docker.io" => {
            Ok(r.registry.to_ascii_lowercase())
        }
        _ => Err(bad(
            "is not a registry host: a host name, IPv4 or [IPv6] address with an optional \
             :port, that image references read as a registry (it has a '.' or ':' or is \
             localhost)",
        )),
    }
}

/// The answer to `validate_settings` for a settings document.
pub fn validation(payload: &[u8]) -> SettingsValidationResponse {
    match Settings::from_json(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}

thread_local! {
    /// The last settings document seen and its compiled form: a host that keeps the instance
    /// (`kwctl run`, `kwctl bench`) sends the same settings with every request, so there the
    /// patterns are compiled once. policy-server's fresh instance per request starts empty.
    static CACHE: RefCell<Option<(Vec<u8>, Rc<Settings>)>> = const { RefCell::new(None) };
}

/// Compiled settings for a raw document, from the cache when it is the same document.
pub fn cached(json: &[u8]) -> Result<Rc<Settings>, String> {
    if let Some(hit) = CACHE.with_borrow(|c| {
        c.as_ref()
            .filter(|(raw, _)| raw.as_slice() == json)
            .map(|(_, s)| s.clone())
    }) {
        return Ok(hit);
    }
    let settings = Rc::new(Settings::from_json(json)?);
    CACHE.with_borrow_mut(|c| *c = Some((json.to_vec(), settings.clone())));
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Settings::from_json(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn defaults() {
        let s = Settings::from_json(b"{}").unwrap();
        assert_eq!(s.mutable_tags.len(), 1);
        assert_eq!(s.mutable_tags[0].text, "latest");
        assert_eq!(s.mutable_tag_action, MutableTagAction::Reject);
        assert_eq!(s.pin_failure_action, PinFailureAction::Reject);
        assert_eq!(s.pull_policy_action, PullPolicyAction::Mutate);
        assert!(!s.pin_immutable_tags && !s.allow_if_not_present_when_pinned);
        assert!(s.immutable_tag_patterns.is_empty() && s.exempt_images.is_empty());
        assert_eq!(s.pin_budget, std::time::Duration::from_millis(900));
        assert!(s.keep_pins_on_update);
        assert!(Settings::from_json(b"null").is_ok());
        assert!(Settings::from_json(b"").is_ok());
    }

    #[test]
    fn every_key_is_read() {
        let s = Settings::from_json(
            br#"{"mutableTags":["latest","stable","v?"],"immutableTagPatterns":["semver","^sha-[0-9a-f]{7}$"],
                "immutableRegistries":["123.dkr.ecr.eu-west-1.amazonaws.com","localhost:5000"],
                "mutableTagAction":"pin","pinImmutableTags":true,"pinFailureAction":"warn",
                "pullPolicyAction":"reject","allowIfNotPresentWhenPinned":true,
                "pinBudgetMilliseconds":2500,"keepPinsOnUpdate":false,
                "exemptImages":["registry.k8s.io/pause:*"],
                "exemptContainers":[{"name":"istio-proxy"},{"name":"debugger","type":"ephemeral"}]}"#,
        )
        .unwrap();
        assert_eq!(s.mutable_tags.len(), 3);
        assert_eq!(s.immutable_tag_patterns.len(), 2);
        assert_eq!(s.immutable_registries[1], "localhost:5000");
        assert_eq!(s.mutable_tag_action, MutableTagAction::Pin);
        assert!(s.pin_immutable_tags && s.allow_if_not_present_when_pinned);
        assert_eq!(s.pin_failure_action, PinFailureAction::Warn);
        assert_eq!(s.pull_policy_action, PullPolicyAction::Reject);
        assert_eq!(s.pin_budget, std::time::Duration::from_millis(2500));
        assert!(!s.keep_pins_on_update);
        assert_eq!(s.exempt_containers[0].container_type, ContainerType::Any);
        assert_eq!(
            s.exempt_containers[1].container_type,
            ContainerType::Ephemeral
        );
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let e = err(r#"{"mutableTag":["latest"]}"#);
        assert!(e.contains("unknown field `mutableTag`"), "{e}");
        let e = err(r#"{"exemptContainers":[{"name":"a","kind":"init"}]}"#);
        assert!(e.starts_with("exemptContainers[0]"), "{e}");
        assert!(e.contains("unknown field `kind`"), "{e}");
    }

    #[test]
    fn wrong_types_and_values_name_the_key() {
        let e = err(r#"{"mutableTags":"latest"}"#);
        assert!(e.starts_with("mutableTags: invalid type"), "{e}");
        let e = err(r#"{"mutableTagAction":"block"}"#);
        assert!(
            e.starts_with("mutableTagAction: unknown variant `block`"),
            "{e}"
        );
        let e = err(r#"{"pinImmutableTags":"yes"}"#);
        assert!(e.starts_with("pinImmutableTags: invalid type"), "{e}");
        let e = err(r#"{"exemptContainers":[{"name":"x","type":"sidecar"}]}"#);
        assert!(
            e.starts_with("exemptContainers[0].type: unknown variant"),
            "{e}"
        );
        let e = err(r#"{"exemptContainers":[{"name":""}]}"#);
        assert!(e.starts_with("exemptContainers[0].name"), "{e}");
        for not_object in ["[1]", "[]", r#"[["nothing"]]"#, "\"x\"", "1"] {
            assert_eq!(err(not_object), "the settings must be a JSON object");
        }
        let e = err(r#"{"mutableTagAction":true}"#);
        assert!(
            e.starts_with(
                "mutableTagAction: invalid type: boolean `true`, expected one of reject, warn, pin"
            ),
            "{e}"
        );
        let e = err(r#"{"mutableTagAction":{"pin":null}}"#);
        assert!(e.starts_with("mutableTagAction: invalid type: map"), "{e}");
        assert!(err("{").starts_with("EOF"), "{}", err("{"));
        let e = err(r#"{} trailing"#);
        assert!(e.contains("trailing"), "{e}");
    }

    #[test]
    fn pin_budget_is_a_positive_whole_number_of_milliseconds() {
        for (bad, shown) in [
            ("0", "integer `0`"),
            ("-5", "integer `-5`"),
            ("28901", "integer `28901`"),
            ("1.5", "floating point `1.5`"),
            ("900.0", "floating point `900.0`"),
            ("\"900\"", "string \"900\""),
            ("true", "boolean `true`"),
            ("null", "null"),
        ] {
            let e = err(&format!(r#"{{"pinBudgetMilliseconds":{bad}}}"#));
            assert!(
                e.starts_with("pinBudgetMilliseconds: invalid "),
                "{bad}: {e}"
            );
            assert!(e.contains(shown), "{bad}: {e}");
            assert!(
                e.contains("expected a whole number of milliseconds from 1 to 28900"),
                "{bad}: {e}"
            );
        }
        for (ok, ms) in [("1", 1), ("28900", 28900), ("1800", 1800)] {
            let s = Settings::from_json(format!(r#"{{"pinBudgetMilliseconds":{ok}}}"#).as_bytes())
                .unwrap();
            assert_eq!(s.pin_budget, std::time::Duration::from_millis(ms));
        }
        let e = err(r#"{"keepPinsOnUpdate":"yes"}"#);
        assert!(e.starts_with("keepPinsOnUpdate: invalid type"), "{e}");
        let e = err(r#"{"pinBudgetMs":900}"#);
        assert!(e.contains("unknown field `pinBudgetMs`"), "{e}");
    }

    #[test]
    fn bad_globs_and_regexes_name_the_key_and_index() {
        let e = err(r#"{"mutableTags":["latest","[oops"]}"#);
        assert!(
            e.starts_with("mutableTags[1]: invalid glob \"[oops\""),
            "{e}"
        );
        let e = err(r#"{"exemptImages":["***"]}"#);
        assert!(e.starts_with("exemptImages[0]: invalid glob"), "{e}");
        let e = err(r#"{"mutableTags":[""]}"#);
        assert!(e.starts_with("mutableTags[0]: empty"), "{e}");
        let e = err(r#"{"immutableTagPatterns":["semver","(unclosed"]}"#);
        assert!(
            e.starts_with("immutableTagPatterns[1]: invalid regex \"(unclosed\""),
            "{e}"
        );
        let e = err(r#"{"immutableTagPatterns":["((a{100}){100}){100}"]}"#);
        assert!(
            e.starts_with("immutableTagPatterns[0]: invalid regex"),
            "{e}"
        );
    }

    /// `?` and `[…]` stand for one character of a name: a glob that starts with one is a
    /// Docker Hub name like `nginx:*`, matched against normalized references (it used to be
    /// taken as written, so it matched none of them, only the host `nginx` on a port).
    #[rstest::rstest]
    #[case::question_mark("?ginx:*")]
    #[case::class("[n]ginx:*")]
    fn an_exemption_glob_starting_with_a_one_character_wildcard_names_docker_hub_images(
        #[case] glob: &str,
    ) {
        let s =
            Settings::from_json(format!(r#"{{"exemptImages":["{glob}"]}}"#).as_bytes()).unwrap();
        let g = &s.exempt_images[0];
        assert_eq!(g.text, glob);
        assert!(g.matches("docker.io/library/nginx:1.25", true));
        assert!(!g.matches("nginx:80/evil/app:1", true));
        assert!(!g.matches("ghcr.io/team/nginx:1", true));
    }

    #[test]
    fn registries_are_kept_lowercase() {
        let s =
            Settings::from_json(br#"{"immutableRegistries":["GHCR.io","[::1]:5000"]}"#).unwrap();
        assert_eq!(s.immutable_registries, vec!["ghcr.io", "[::1]:5000"]);
    }

    #[rstest::rstest]
    #[case::scheme("https://ghcr.io")]
    #[case::path("ghcr.io/team")]
    #[case::empty("")]
    #[case::spaces("not a host")]
    #[case::not_a_host_name("UPPER_CASE!")]
    fn bad_registries_are_refused(#[case] registry: &str) {
        let e = err(&format!(r#"{{"immutableRegistries":[{registry:?}]}}"#));
        assert!(e.starts_with("immutableRegistries[0]"), "{e}");
    }

    #[rstest::rstest]
    #[case("1.2.3", true)]
    #[case("v1.2.3", true)]
    #[case("1.2.3-rc.1", true)]
    #[case("1.2.3+build.5", true)]
    #[case("10.20.30-alpha-1", true)]
    #[case("1", false)]
    #[case("1.2", false)]
    #[case("v1.2", false)]
    #[case("01.2.3", false)]
    #[case("1.2.3.4", false)]
    #[case("latest", false)]
    #[case("1.2.3-", false)]
    #[case("x1.2.3", false)]
    fn semver_word_is_a_full_version(#[case] tag: &str, #[case] full: bool) {
        let s = Settings::from_json(br#"{"immutableTagPatterns":["semver"]}"#).unwrap();
        assert_eq!(s.immutable_tag_patterns[0].is_match(tag), full);
    }

    /// semver.org's own regex, with the optional `v`: the oracle of the `semver` word.
    const SEMVER_ORG_REGEX: &str = r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$";

    /// Tags built like versions, mostly valid ones: `MAJOR.MINOR.PATCH` from numbers (now and
    /// then one with a leading zero, empty or a letter), dots (now and then another
    /// separator), an optional `v`/`V`, pre-release and build identifiers, valid and not.
    fn version_like_tags() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let num = || {
            prop::sample::select(vec![
                "0", "1", "10", "123", "0", "1", "10", "123", "01", "00", "", "a",
            ])
        };
        let sep = || prop::sample::select(vec![".", ".", ".", ".", ".", ".", "-", "+", ""]);
        let ident = prop::sample::select(vec![
            "0", "1", "01", "00", "rc", "0a", "x-1", "-", "", "A", "a.b", "beta",
        ]);
        let extra = prop::option::of(prop::collection::vec(ident, 1..4));
        (
            prop::sample::select(vec!["", "", "v", "V"]),
            (num(), sep(), num(), sep(), num()),
            extra.clone(),
            extra,
        )
            .prop_map(|(prefix, (a, s1, b, s2, c), pre, build)| {
                let mut tag = format!("{prefix}{a}{s1}{b}{s2}{c}");
                if let Some(ids) = pre {
                    tag.push('-');
                    tag.push_str(&ids.join("."));
                }
                if let Some(ids) = build {
                    tag.push('+');
                    tag.push_str(&ids.join("."));
                }
                tag
            })
    }

    proptest::proptest! {
        /// The word reads tags as semver.org's regex does.
        #[test]
        fn semver_word_agrees_with_semver_orgs_regex(tag in version_like_tags()) {
            let oracle = regex::Regex::new(SEMVER_ORG_REGEX).unwrap();
            proptest::prop_assert_eq!(TagPattern::Semver.is_match(&tag), oracle.is_match(&tag));
        }
    }

    #[test]
    fn semver_word_numbers_stop_at_u64() {
        assert!(TagPattern::Semver.is_match("18446744073709551615.0.0"));
        assert!(!TagPattern::Semver.is_match("18446744073709551616.0.0"));
    }

    #[test]
    fn a_pattern_without_a_closing_paren_is_compiled_once_and_still_checked() {
        for bad in ["(", "[", "a\\", "x(?", "*"] {
            let e = err(&serde_json::json!({"immutableTagPatterns": [bad]}).to_string());
            assert!(
                e.starts_with("immutableTagPatterns[0]: invalid regex"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_pattern_cannot_escape_its_anchors() {
        let e = err(r#"{"immutableTagPatterns":["1)|(.*"]}"#);
        assert!(
            e.starts_with("immutableTagPatterns[0]: invalid regex"),
            "{e}"
        );
    }

    #[test]
    fn regexes_are_anchored() {
        let s = Settings::from_json(br#"{"immutableTagPatterns":["[0-9]+"]}"#).unwrap();
        assert!(s.immutable_tag_patterns[0].is_match("123"));
        assert!(!s.immutable_tag_patterns[0].is_match("123-latest"));
    }

    #[test]
    fn cache_returns_the_same_compiled_settings_for_the_same_document() {
        let a = cached(br#"{"mutableTags":["x"]}"#).unwrap();
        let b = cached(br#"{"mutableTags":["x"]}"#).unwrap();
        assert!(Rc::ptr_eq(&a, &b));
        let c = cached(br#"{"mutableTags":["y"]}"#).unwrap();
        assert_eq!(c.mutable_tags[0].text, "y");
        assert!(cached(br#"{"mutableTags":["["]}"#).is_err());
    }
}
