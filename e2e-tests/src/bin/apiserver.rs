//! `apiserver`: a loopback stand-in for the Kubernetes API server, serving cluster-state
//! files to the real `kwctl run --allow-context-aware` and policy-server (see
//! `e2e_tests::apiserver`). Runs until killed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use e2e_tests::apiserver::{ApiServer, Options};

const USAGE: &str = "\
Usage: apiserver [OPTIONS] <CLUSTER_STATE>...

Serves the objects of cluster-state files (Kubernetes Lists, JSON or YAML, as
`kubectl get pods -A -o json` prints them) as a Kubernetes API server would to
kube-rs: discovery, lists, gets and watches, over plain HTTP on 127.0.0.1.
Writes a kubeconfig for itself, then prints on stdout, one per line:
  url http://127.0.0.1:PORT
  kubeconfig PATH
and logs each request, with its status, on stderr. Runs until killed.

Options:
      --kubeconfig <FILE>       where to write the kubeconfig
                                [default: $TMPDIR/e2e-apiserver-PORT.kubeconfig]
      --port <PORT>             the port [default: a free one]
      --bookmark-seconds <N>    a BOOKMARK every N seconds on watches that allow
                                them [default: 60]
  -q, --quiet                   do not log requests
  -h, --help                    print this help";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("apiserver: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut options = Options {
        echo: true,
        ..Options::default()
    };
    let mut kubeconfig: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        let number = |flag: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} needs a whole number, not {v:?}"))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--kubeconfig" => kubeconfig = Some(value("--kubeconfig")?.into()),
            "--port" => {
                let port = number("--port", value("--port")?)?;
                options.port = u16::try_from(port).map_err(|_| "--port: too large".to_string())?;
            }
            "--bookmark-seconds" => {
                let seconds = number("--bookmark-seconds", value("--bookmark-seconds")?)?;
                options.bookmark_interval = Duration::from_secs(seconds.max(1));
            }
            "-q" | "--quiet" => options.echo = false,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            file => files.push(file.to_string()),
        }
    }
    if files.is_empty() {
        return Err("give at least one cluster-state file".into());
    }
    let server = ApiServer::from_files(&files, options).map_err(|e| e.to_string())?;
    let kubeconfig = kubeconfig.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("e2e-apiserver-{}.kubeconfig", server.port()))
    });
    server
        .write_kubeconfig(&kubeconfig)
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    writeln!(out, "url {}", server.url()).map_err(|e| e.to_string())?;
    writeln!(out, "kubeconfig {}", kubeconfig.display()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    loop {
        std::thread::park();
    }
}
