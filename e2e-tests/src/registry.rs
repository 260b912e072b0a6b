//! A throw-away OCI registry on loopback: Debian's `docker-registry` (distribution v2)
//! with filesystem storage in a temp dir, killed on drop.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::http::{LoopbackClient, MANIFEST_ACCEPT};

/// The registry binary; override with env `DOCKER_REGISTRY_BIN`.
pub const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running registry. Dropping it kills the process and removes its storage.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    client: LoopbackClient,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host())
            .finish()
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("127.0.0.1:0", e))?
        .port();
    Ok(port)
}

/// Header each response of our registry carries, so a registry started by someone else
/// on the same port is never mistaken for ours.
const ID_HEADER: &str = "X-E2E-Registry";

fn config_yaml(storage: &Path, port: u16, id: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: e2e-tests-not-a-secret\n  \
         headers:\n    {ID_HEADER}: [\"{id}\"]\n",
        storage = storage.display()
    )
}

impl Registry {
    /// Starts a registry on a free loopback port and waits until `/v2/` answers.
    pub fn start() -> Result<Registry> {
        let bin = std::env::var("DOCKER_REGISTRY_BIN").unwrap_or(DEFAULT_REGISTRY_BIN.into());
        let mut last_error = None;
        // The port is free when picked but could be taken before the registry binds it.
        for _ in 0..3 {
            match Self::start_once(&bin) {
                Ok(r) => return Ok(r),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::tool(&bin, "could not start")))
    }

    fn start_once(bin: &str) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-registry-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| Error::io(&storage, e))?;
        let port = free_port()?;
        let config = dir.path().join("config.yml");
        let id = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(&config, config_yaml(&storage, port, &id))
            .map_err(|e| Error::io(&config, e))?;
        let log_path = dir.path().join("registry.log");
        let log = File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let log_err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                Error::tool(
                    bin,
                    format!("cannot start it ({e}); run e2e-tests/setup.sh"),
                )
            })?;
        let host = format!("127.0.0.1:{port}");
        let client = LoopbackClient::new(&host, &host, Duration::from_secs(5))?;
        let mut registry = Registry {
            child: Some(child),
            port,
            dir,
            client,
        };
        registry.wait_ready(bin, &id)?;
        Ok(registry)
    }

    fn wait_ready(&mut self, bin: &str, id: &str) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::tool(
                    bin,
                    format!("exited with {status} while starting: {}", self.log()),
                ));
            }
            if let Ok(res) = self.client.get("/v2/", &[])
                && res.status == 200
            {
                if res.header(ID_HEADER) == Some(id) {
                    return Ok(());
                }
                return Err(Error::tool(
                    bin,
                    format!("another server answers on port {}", self.port),
                ));
            }
            if Instant::now() > deadline {
                return Err(Error::tool(
                    bin,
                    format!(
                        "/v2/ did not answer within {START_TIMEOUT:?}: {}",
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/<repo_and_ref>`, e.g. `image("app:1.0")`.
    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{}", self.host(), repo_and_ref)
    }

    /// An HTTP client for this registry.
    pub fn client(&self) -> &LoopbackClient {
        &self.client
    }

    /// The registry's own directory (config, storage, log).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// What the registry has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The digest the registry serves for `repo` at `reference` (tag or digest):
    /// `Docker-Content-Digest` of a HEAD with the usual manifest Accept list.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Result<String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = self
            .client
            .head(&path, &[("Accept", MANIFEST_ACCEPT)])?
            .expect(200, &self.host(), &format!("HEAD {path}"))?;
        res.header("Docker-Content-Digest")
            .map(str::to_string)
            .ok_or_else(|| Error::registry(self.host(), "no Docker-Content-Digest header"))
    }

    /// The manifest bytes and media type served for `repo` at `reference`.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String)> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = self
            .client
            .get(&path, &[("Accept", MANIFEST_ACCEPT)])?
            .expect(200, &self.host(), &format!("GET {path}"))?;
        let media_type = res.header("Content-Type").unwrap_or_default().to_string();
        Ok((res.body, media_type))
    }

    /// Stops the registry now (also done on drop); later requests fail to connect.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
