//! A loopback stand-in for the Kubernetes API server, for running the real `kwctl run
//! --allow-context-aware` and policy-server against a cluster-state file (the bin `apiserver`).
//!
//! It answers, over plain HTTP on `127.0.0.1`, what policy-evaluator's reflector asks
//! (kube-rs 3: discovery, then a LIST, then a WATCH from the list's resourceVersion):
//!
//! - discovery: `GET /api/v1` and `GET /apis/GROUP/VERSION`, an `APIResourceList` of the kinds
//!   the policy judges ([`crate::kinds::KINDS`]) and of the types the files hold, each with
//!   its plural `name`, `singularName`, `namespaced` and the verbs `get`, `list`, `watch`;
//!   `GET /api` and `GET /apis` list the versions and groups;
//! - lists: `.../namespaces/NS/PLURAL` and `.../PLURAL` (every namespace), a `<Kind>List` with
//!   `metadata.resourceVersion` and all the items in file order, written without `apiVersion`
//!   and `kind` as an API server writes list items; `limit` is honoured by returning everything
//!   and no `continue`; label and field selectors are refused (`400`), as the host's
//!   [`crate::cluster`] refuses them;
//! - gets: `.../PLURAL/NAME`, the object, or a `404` `Status`;
//! - watches (`watch=true`): a chunked stream held open until `timeoutSeconds` (then ended, as
//!   an API server ends it), of newline-delimited events: `ADDED` for every object when the
//!   watch starts from no resourceVersion (or `0`) or asks `sendInitialEvents=true` (then a
//!   `BOOKMARK` annotated `k8s.io/initial-events-end`), and, when `allowWatchBookmarks=true`, a
//!   `BOOKMARK` every [`Options::bookmark_interval`]. The cluster never changes, so a watch
//!   from the list's resourceVersion sees no other event.
//!
//! Every object carries `metadata.resourceVersion` (the file's, else the server's). Each
//! connection serves one request (`Connection: close`). The request lines are kept
//! ([`ApiServer::requests`]) and, with [`Options::echo`], printed on stderr with their status.
//! [`ApiServer::kubeconfig`] is a kubeconfig for it: `server: http://127.0.0.1:PORT`, no
//! credentials (kube-rs connects over plain HTTP when the URL says `http`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::ClusterState;
use crate::error::{Error, Result};
use crate::kinds::KINDS;

/// How the stand-in runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Print each request line and its status on stderr.
    pub echo: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            bookmark_interval: Duration::from_secs(60),
            echo: false,
        }
    }
}

/// A watch lasts this long when it gives no `timeoutSeconds`.
const DEFAULT_WATCH_SECONDS: u64 = 1800;
/// How often a held watch looks whether its client left or the server stopped.
const WATCH_POLL: Duration = Duration::from_millis(100);
/// Longest request head read.
const MAX_HEAD: usize = 64 * 1024;

/// A resource type as discovery names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resource {
    /// `v1`, `apps/v1`.
    group_version: String,
    kind: String,
    /// `pods`.
    plural: String,
    namespaced: bool,
}

/// One object of the files, with what the routes look it up by.
#[derive(Debug)]
struct Object {
    group_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    /// The whole object, with `apiVersion`, `kind` and `metadata.resourceVersion`.
    value: Value,
}

#[derive(Debug)]
struct Shared {
    resources: Vec<Resource>,
    objects: Vec<Object>,
    resource_version: String,
    options: Options,
    requests: Mutex<Vec<String>>,
    stopped: AtomicBool,
}

/// A running stand-in; dropping it stops it and ends its watches.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Reads cluster-state files (JSON or YAML Lists, as `kubectl get pods -A -o json` prints),
/// checked as [`ClusterState::read`] checks them.
pub fn read_lists<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Value>> {
    ClusterState::read(paths)?;
    let documents = crate::cluster::read_documents(paths)?;
    Ok(documents.into_iter().map(|(_, list)| list).collect())
}

impl ApiServer {
    /// Serves the objects of `lists` (Kubernetes Lists: the items of each add up).
    pub fn start(lists: Vec<Value>, options: Options) -> Result<ApiServer> {
        let mut items = Vec::new();
        for list in lists {
            // Each must be a List (checked as the host checks it); items are checked below.
            ClusterState::from_list(list.clone())?;
            let typed = list["kind"].as_str().and_then(|k| k.strip_suffix("List"));
            let list_type = typed.filter(|k| !k.is_empty()).map(|k| {
                (
                    list["apiVersion"].as_str().unwrap_or_default().to_string(),
                    k.to_string(),
                )
            });
            let Value::Array(list_items) = list["items"].clone() else {
                continue;
            };
            for mut item in list_items {
                if let (Some((v, k)), Some(map)) = (&list_type, item.as_object_mut()) {
                    map.entry("apiVersion").or_insert_with(|| v.clone().into());
                    map.entry("kind").or_insert_with(|| k.clone().into());
                }
                items.push(item);
            }
        }
        // The same checks as the host's cluster state across lists (scopes, duplicates).
        ClusterState::from_list(json!({"apiVersion": "v1", "kind": "List", "items": items}))?;
        let mut resources: Vec<Resource> = KINDS
            .iter()
            .map(|k| Resource {
                group_version: group_version(k.group, k.version),
                kind: k.kind.to_string(),
                plural: k.resource.to_string(),
                namespaced: true,
            })
            .collect();
        let numeric_rv = |o: &Value| {
            o["metadata"]["resourceVersion"]
                .as_str()?
                .parse::<u64>()
                .ok()
        };
        let resource_version = items
            .iter()
            .filter_map(numeric_rv)
            .max()
            .unwrap_or(1)
            .to_string();
        let mut objects = Vec::new();
        for mut value in items {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let (group_version, kind) = (text(&value["apiVersion"]), text(&value["kind"]));
            let metadata = value
                .as_object_mut()
                .and_then(|o| {
                    o.entry("metadata")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                })
                .ok_or_else(|| Error::invalid("cluster state", "an item is not an object"))?;
            metadata
                .entry("resourceVersion")
                .or_insert_with(|| resource_version.clone().into());
            let namespace = metadata
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            let name = metadata
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !resources
                .iter()
                .any(|r| r.group_version == group_version && r.kind == kind)
            {
                resources.push(Resource {
                    plural: plural(&kind),
                    group_version: group_version.clone(),
                    kind: kind.clone(),
                    namespaced: namespace.is_some(),
                });
            }
            objects.push(Object {
                group_version,
                kind,
                namespace,
                name,
                value,
            });
        }
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .map_err(|e| Error::io(format!("127.0.0.1:{}", options.port), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("127.0.0.1", e))?;
        let shared = Arc::new(Shared {
            resources,
            objects,
            resource_version,
            options,
            requests: Mutex::default(),
            stopped: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accept_shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        Ok(ApiServer { addr, shared })
    }

    /// Serves the objects of cluster-state files ([`read_lists`]).
    pub fn from_files<P: AsRef<Path>>(paths: &[P], options: Options) -> Result<ApiServer> {
        ApiServer::start(read_lists(paths)?, options)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The resourceVersion of every list (the largest numeric one of the files, else `1`).
    pub fn resource_version(&self) -> &str {
        &self.shared.resource_version
    }

    /// A kubeconfig whose current context is this server, in namespace `default`, with no
    /// credentials.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e-apiserver\n  cluster:\n    \
             server: {}\ncontexts:\n- name: e2e-apiserver\n  context:\n    cluster: e2e-apiserver\n    \
             user: e2e-apiserver\n    namespace: default\ncurrent-context: e2e-apiserver\n\
             users:\n- name: e2e-apiserver\n  user: {{}}\n",
            self.url()
        )
    }

    /// Writes [`ApiServer::kubeconfig`] to `path` (through a rename, so that a reader that
    /// waits for the file never sees half of it).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        let partial = path.with_extension("partial");
        std::fs::write(&partial, self.kubeconfig()).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
    }

    /// The request lines served so far (`GET /api/v1`), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The plural resource name of a kind the kinds table does not hold (English rules that
/// cover the built-in kinds: `Ingress` → `ingresses`, `NetworkPolicy` → `networkpolicies`).
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// `%XX` and `+` decoded (query values).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a request target, decoded; empty pairs (kube's `?&`) skipped.
fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    (query.split('&').filter(|p| !p.is_empty()))
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A Kubernetes `Status` failure.
fn status(code: u16, reason: &str, message: String) -> (u16, Value) {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (code, body)
}

/// What a request is answered with.
enum Reply {
    Json(u16, Value),
    Watch {
        events: Vec<Value>,
        bookmark: Option<Value>,
        seconds: u64,
    },
}

/// What a watch asks.
struct WatchQuery<'a> {
    resource_version: Option<&'a str>,
    /// `sendInitialEvents=true`.
    initial_events: bool,
    /// `allowWatchBookmarks=true`.
    bookmarks: bool,
    /// `timeoutSeconds`.
    seconds: u64,
}

/// What a path under a group-version names.
struct Target<'a> {
    resource: &'a Resource,
    namespace: Option<String>,
    name: Option<String>,
}

impl Shared {
    fn route(&self, method: &str, target: &str) -> Reply {
        if method != "GET" {
            let (code, body) = status(
                405,
                "MethodNotAllowed",
                format!("{method} is not served here"),
            );
            return Reply::Json(code, body);
        }
        let path = target.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group_version, rest) = match segments.as_slice() {
            ["api"] => return Reply::Json(200, self.versions()),
            ["apis"] => return Reply::Json(200, self.groups()),
            ["version"] => {
                let version =
                    json!({"major": "1", "minor": "31", "gitVersion": "v1.31.0-e2e-apiserver"});
                return Reply::Json(200, version);
            }
            ["api", version, rest @ ..] => (version.to_string(), rest),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
            _ => return self.not_found(path),
        };
        if rest.is_empty() {
            return match self.discovery(&group_version) {
                Some(list) => Reply::Json(200, list),
                None => self.not_found(path),
            };
        }
        let Some(target_of) = self.target(&group_version, rest) else {
            return self.not_found(path);
        };
        let params = query(target);
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let flag = |key: &str| matches!(param(key), Some("true" | "1"));
        if let Some(name) = &target_of.name {
            return match self.matching(&target_of).find(|o| &o.name == name) {
                Some(object) => Reply::Json(200, object.value.clone()),
                None => {
                    let (code, body) = status(
                        404,
                        "NotFound",
                        format!("{} \"{name}\" not found", target_of.resource.plural),
                    );
                    Reply::Json(code, body)
                }
            };
        }
        for selector in ["labelSelector", "fieldSelector"] {
            if let Some(s) = param(selector).filter(|s| !s.is_empty()) {
                let message = format!("this stand-in does not apply selectors: {selector}={s:?}");
                let (code, body) = status(400, "BadRequest", message);
                return Reply::Json(code, body);
            }
        }
        if flag("watch") {
            let seconds = param("timeoutSeconds").and_then(|s| s.parse().ok());
            let watch = WatchQuery {
                resource_version: param("resourceVersion"),
                initial_events: flag("sendInitialEvents"),
                bookmarks: flag("allowWatchBookmarks"),
                seconds: seconds.unwrap_or(DEFAULT_WATCH_SECONDS),
            };
            return self.watch(&target_of, watch);
        }
        let items: Vec<Value> = (self.matching(&target_of))
            .map(|o| {
                let mut item = o.value.clone();
                if let Some(map) = item.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                item
            })
            .collect();
        let list = json!({
            "apiVersion": target_of.resource.group_version,
            "kind": format!("{}List", target_of.resource.kind),
            "metadata": {"resourceVersion": self.resource_version},
            "items": items,
        });
        Reply::Json(200, list)
    }

    fn not_found(&self, path: &str) -> Reply {
        let (code, body) = status(404, "NotFound", format!("the server could not find {path}"));
        Reply::Json(code, body)
    }

    /// The resource, namespace and name a path under `group_version` names.
    fn target<'a>(&'a self, group_version: &str, rest: &[&str]) -> Option<Target<'a>> {
        let (namespace, plural, name) = match rest {
            ["namespaces", ns, plural] => (Some(*ns), *plural, None),
            ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
            [plural] => (None, *plural, None),
            [plural, name] => (None, *plural, Some(*name)),
            _ => return None,
        };
        let resource = (self.resources.iter())
            .find(|r| r.group_version == group_version && r.plural == plural)?;
        if namespace.is_some() && !resource.namespaced {
            return None;
        }
        Some(Target {
            resource,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
        })
    }

    /// The objects of a target's type in its namespace (every namespace when it names none).
    fn matching<'a>(&'a self, target: &'a Target) -> impl Iterator<Item = &'a Object> + 'a {
        self.objects.iter().filter(move |o| {
            o.group_version == target.resource.group_version
                && o.kind == target.resource.kind
                && (target.namespace.is_none() || o.namespace == target.namespace)
        })
    }

    fn watch(&self, target: &Target, query: WatchQuery) -> Reply {
        let replay =
            query.initial_events || matches!(query.resource_version, None | Some("" | "0"));
        let added = |o: &Object| json!({"type": "ADDED", "object": o.value});
        let mut events: Vec<Value> = if replay {
            self.matching(target).map(added).collect()
        } else {
            Vec::new()
        };
        let bookmark = || {
            json!({"type": "BOOKMARK", "object": {
                "apiVersion": target.resource.group_version,
                "kind": target.resource.kind,
                "metadata": {"resourceVersion": self.resource_version},
            }})
        };
        if query.initial_events {
            let mut end = bookmark();
            end["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            events.push(end);
        }
        Reply::Watch {
            events,
            bookmark: query.bookmarks.then(bookmark),
            seconds: query.seconds,
        }
    }

    /// `/api`: the core group's versions.
    fn versions(&self) -> Value {
        json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    }

    /// `/apis`: the named groups of the served types.
    fn groups(&self) -> Value {
        let mut group_versions: Vec<&str> = (self.resources.iter())
            .map(|r| r.group_version.as_str())
            .filter(|gv| gv.contains('/'))
            .collect();
        group_versions.sort();
        group_versions.dedup();
        let groups: Vec<Value> = group_versions
            .iter()
            .map(|gv| {
                let (group, version) = gv.split_once('/').unwrap_or_default();
                let version = json!({"groupVersion": gv, "version": version});
                json!({"name": group, "versions": [version], "preferredVersion": version})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/api/v1`, `/apis/GROUP/VERSION`: an `APIResourceList`, `None` for an unknown version.
    fn discovery(&self, group_version: &str) -> Option<Value> {
        let resources: Vec<Value> = (self.resources.iter())
            .filter(|r| r.group_version == group_version)
            .map(|r| {
                json!({
                    "name": r.plural, "singularName": r.kind.to_ascii_lowercase(),
                    "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "list", "watch"],
                })
            })
            .collect();
        (!resources.is_empty() || group_version == "v1").then(|| {
            json!({
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": group_version, "resources": resources,
            })
        })
    }

    fn log(&self, line: &str, status: u16) {
        if let Ok(mut r) = self.requests.lock() {
            r.push(line.to_string());
        }
        if self.options.echo {
            eprintln!("{line} -> {status}");
        }
    }
}

/// Reads the request head (up to the blank line).
fn read_head(conn: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    }
}

/// One event of a watch: a chunk holding one JSON line.
fn write_event(conn: &mut TcpStream, event: &Value) -> std::io::Result<()> {
    let line = format!("{event}\n");
    write!(conn, "{:x}\r\n{line}\r\n", line.len())?;
    conn.flush()
}

fn serve(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head = read_head(&mut conn)?;
    let first = head.lines().next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let line = format!("{method} {target}");
    match shared.route(method, target) {
        Reply::Json(code, body) => {
            shared.log(&line, code);
            let body = body.to_string();
            write!(
                conn,
                "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                reason(code),
                body.len()
            )?;
        }
        Reply::Watch {
            events,
            bookmark,
            seconds,
        } => {
            shared.log(&line, 200);
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                  Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )?;
            for event in &events {
                write_event(&mut conn, event)?;
            }
            let why = hold_watch(
                &mut conn,
                shared,
                bookmark.as_ref(),
                Duration::from_secs(seconds),
            )?;
            if shared.options.echo {
                eprintln!("{line}: watch ended ({why})");
            }
            // The last chunk: the watch ends as an API server ends it at timeoutSeconds.
            let _ = conn.write_all(b"0\r\n\r\n");
        }
    }
    let _ = conn.flush();
    conn.shutdown(Shutdown::Both)
}

/// Keeps a watch open until its time is up, the client leaves or the server stops, sending
/// the bookmark (if any) every interval; says why it ended.
fn hold_watch(
    conn: &mut TcpStream,
    shared: &Shared,
    bookmark: Option<&Value>,
    length: Duration,
) -> std::io::Result<&'static str> {
    let start = Instant::now();
    let mut next_bookmark = start + shared.options.bookmark_interval;
    conn.set_read_timeout(Some(WATCH_POLL))?;
    let mut scratch = [0u8; 512];
    loop {
        if start.elapsed() >= length {
            return Ok("timeoutSeconds");
        }
        if shared.stopped.load(Ordering::SeqCst) {
            return Ok("server stopped");
        }
        match conn.read(&mut scratch) {
            Ok(0) => return Ok("client closed"),
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok("client gone");
            }
            _ => {}
        }
        if let Some(bookmark) = bookmark.filter(|_| Instant::now() >= next_bookmark) {
            write_event(conn, bookmark)?;
            next_bookmark += shared.options.bookmark_interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_built_in_kinds() {
        for (kind, plural) in [
            ("Pod", "pods"),
            ("Namespace", "namespaces"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("ConfigMap", "configmaps"),
        ] {
            assert_eq!(super::plural(kind), plural);
        }
    }

    #[test]
    fn query_parameters_as_kube_writes_them() {
        assert_eq!(
            query("/api/v1/namespaces/default/pods?&labelSelector=app%3Dweb%2Ctier+x&limit=500"),
            vec![
                ("labelSelector".to_string(), "app=web,tier x".to_string()),
                ("limit".to_string(), "500".to_string()),
            ]
        );
        assert!(query("/api/v1").is_empty());
    }
}
