//! The loopback API server stand-in (`e2e_tests::apiserver`, bin `apiserver`) answers what
//! kube-rs's watcher in policy-evaluator asks (discovery, the initial LIST, the WATCH from the
//! list's resourceVersion), in the shapes it parses. The real kwctl runs against it in
//! `e2e-tests/kwctl.bats`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e_tests::apiserver::{ApiServer, Options};
use e2e_tests::http::{HttpResponse, LoopbackClient};
use e2e_tests::workspace_root;
use serde_json::{Value, json};

/// The cluster of the replica tests: four Pods in `default`, one in `kube-system`.
fn replicas() -> ApiServer {
    let file = workspace_root().join("test_data/replicas/cluster.json");
    let options = Options {
        bookmark_interval: Duration::from_millis(200),
        ..Options::default()
    };
    ApiServer::from_files(&[file], options).unwrap()
}

fn get(server: &ApiServer, target: &str) -> HttpResponse {
    let authority = server.url().trim_start_matches("http://").to_string();
    let client = LoopbackClient::new(&authority, "", Duration::from_secs(10)).unwrap();
    client.get(target, &[]).unwrap()
}

fn json_of(response: &HttpResponse) -> Value {
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.text()))
}

fn names(list: &Value) -> Vec<&str> {
    (list["items"].as_array().unwrap().iter())
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

/// Newline-delimited watch events.
fn parse_events(body: &[u8]) -> Vec<Value> {
    (String::from_utf8_lossy(body).lines())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn discovery_names_pods_namespaced_with_list_and_watch() {
    let server = replicas();
    let core = json_of(&get(&server, "/api/v1"));
    assert_eq!(core["kind"], "APIResourceList");
    assert_eq!(core["groupVersion"], "v1");
    let pods = (core["resources"].as_array().unwrap().iter())
        .find(|r| r["kind"] == "Pod")
        .unwrap();
    assert_eq!(
        pods,
        &json!({"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                "verbs": ["get", "list", "watch"]})
    );
    let apps = json_of(&get(&server, "/apis/apps/v1"));
    let plurals: Vec<&str> = (apps["resources"].as_array().unwrap().iter())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(plurals.contains(&"replicasets") && plurals.contains(&"deployments"));
    let groups = json_of(&get(&server, "/apis"));
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apps")
    );

    let unknown = get(&server, "/apis/example.com/v1");
    assert_eq!(unknown.status, 404);
    assert_eq!(json_of(&unknown)["kind"], "Status");
}

#[test]
fn a_namespaced_list_has_a_resource_version_every_item_and_no_continue() {
    let server = replicas();
    // As kube-rs 3 asks it: the stray `?&` and a page size.
    let list = json_of(&get(&server, "/api/v1/namespaces/default/pods?&limit=500"));
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(
        list["metadata"],
        json!({"resourceVersion": server.resource_version()})
    );
    assert!(!server.resource_version().is_empty());
    assert_eq!(
        names(&list),
        ["web-7d9-a", "web-7d9-b", "web-7d9-c", "api-5f6-x"]
    );
    for item in list["items"].as_array().unwrap() {
        // An API server writes list items without their type, and with everything else.
        assert_eq!(item.get("kind"), None);
        assert_eq!(item.get("apiVersion"), None);
        assert!(item["metadata"]["resourceVersion"].is_string());
        assert!(item["status"]["containerStatuses"][0]["imageID"].is_string());
        assert!(item["metadata"]["ownerReferences"].is_array());
    }
    let all = json_of(&get(&server, "/api/v1/pods?limit=1"));
    assert_eq!(names(&all).len(), 5, "limit returns everything");
    let empty = json_of(&get(
        &server,
        "/apis/apps/v1/namespaces/default/replicasets",
    ));
    assert_eq!(empty["kind"], "ReplicaSetList");
    assert_eq!(empty["items"], json!([]));
}

#[test]
fn gets_and_refusals_are_kubernetes_statuses() {
    let server = replicas();
    let pod = json_of(&get(&server, "/api/v1/namespaces/default/pods/web-7d9-c"));
    assert_eq!(
        (pod["kind"].as_str(), pod["apiVersion"].as_str()),
        (Some("Pod"), Some("v1"))
    );
    assert_eq!(pod["metadata"]["name"], "web-7d9-c");

    let missing = get(&server, "/api/v1/namespaces/kube-system/pods/web-7d9-c");
    assert_eq!(missing.status, 404);
    assert_eq!(json_of(&missing)["reason"], "NotFound");

    let selector = get(
        &server,
        "/api/v1/namespaces/default/pods?&labelSelector=app%3Dweb&limit=500",
    );
    assert_eq!(selector.status, 400);
    let status = json_of(&selector);
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(400))
    );
    assert!(status["message"].as_str().unwrap().contains("app=web"));
}

#[test]
fn a_watch_from_the_lists_version_is_held_open_with_bookmarks_until_its_timeout() {
    let server = replicas();
    let rv = server.resource_version().to_string();
    let start = Instant::now();
    let watch = get(
        &server,
        &format!(
            "/api/v1/namespaces/default/pods?&watch=true&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion={rv}"
        ),
    );
    let held = start.elapsed();
    assert_eq!(watch.status, 200);
    assert_eq!(watch.header("transfer-encoding"), Some("chunked"));
    assert!(held >= Duration::from_millis(950), "ended after {held:?}");
    assert!(held < Duration::from_secs(5), "ended after {held:?}");
    let events = parse_events(&watch.body);
    assert!(!events.is_empty(), "bookmarks every 200 ms");
    for event in events {
        assert_eq!(
            event,
            json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"resourceVersion": rv}}})
        );
    }
    assert_eq!(
        server.requests().last().map(String::as_str),
        Some(&*format!(
            "GET /api/v1/namespaces/default/pods?&watch=true&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion={rv}"
        ))
    );
}

#[test]
fn a_watch_from_nothing_starts_with_the_objects() {
    let server = replicas();
    let watch = get(
        &server,
        "/api/v1/namespaces/kube-system/pods?watch=1&timeoutSeconds=1",
    );
    let events = parse_events(&watch.body);
    assert_eq!(events.len(), 1, "no bookmarks unless allowed: {events:?}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["kind"], "Pod");
    assert_eq!(events[0]["object"]["metadata"]["name"], "coredns-x");

    let streaming = get(
        &server,
        "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&timeoutSeconds=1",
    );
    let events = parse_events(&streaming.body);
    assert_eq!(events.len(), 5);
    assert_eq!(events[4]["type"], "BOOKMARK");
    assert_eq!(
        events[4]["object"]["metadata"]["annotations"],
        json!({"k8s.io/initial-events-end": "true"})
    );
}

#[test]
fn a_held_watch_ends_when_the_server_stops() {
    let server = replicas();
    let mut conn = TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
    conn.write_all(b"GET /api/v1/namespaces/default/pods?&watch=true&timeoutSeconds=290&resourceVersion=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    drop(server);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(rest.ends_with("\r\n\r\n0\r\n\r\n"), "{rest:?}");
}

#[test]
fn its_kubeconfig_points_kube_at_plain_http_on_loopback() {
    let server = replicas();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let config: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let context = &config["contexts"][0]["context"];
    assert_eq!(config["current-context"], config["contexts"][0]["name"]);
    assert_eq!(config["clusters"][0]["name"], context["cluster"]);
    assert_eq!(config["clusters"][0]["cluster"]["server"], server.url());
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        config["users"][0],
        json!({"name": context["user"], "user": {}})
    );
}

#[test]
fn conflicting_cluster_state_is_refused() {
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "n"}});
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [pod, pod]});
    let err = ApiServer::start(vec![list], Options::default()).unwrap_err();
    assert!(err.to_string().contains("already at"), "{err}");
    let err = ApiServer::start(vec![pod], Options::default()).unwrap_err();
    assert!(
        err.to_string().contains("expected a Kubernetes List"),
        "{err}"
    );
}

#[test]
fn the_binary_prints_its_url_and_kubeconfig_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc");
    let file = workspace_root().join("test_data/replicas/cluster.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut url, mut path) = (String::new(), String::new());
    stdout.read_line(&mut url).unwrap();
    stdout.read_line(&mut path).unwrap();
    let url = url.trim().strip_prefix("url http://").unwrap().to_string();
    assert_eq!(path.trim(), format!("kubeconfig {}", kubeconfig.display()));
    assert!(std::fs::read_to_string(&kubeconfig).unwrap().contains(&url));
    let client = LoopbackClient::new(&url, "", Duration::from_secs(10)).unwrap();
    assert_eq!(client.get("/api/v1", &[]).unwrap().status, 200);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "GET /api/v1 -> 200\n");

    let usage = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("cluster-state file"));
}
