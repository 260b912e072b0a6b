//! Loading a policy `.wasm` and calling it over waPC, the way policy-evaluator does.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use wapc::{WapcHost, WebAssemblyEngineProvider};
use wasmtime_provider::wasmtime;
use wasmtime_provider::{EpochDeadlines, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

use crate::error::{Error, Result};
use crate::fuel::{Fuel, FuelMeter, FuelModule};
use crate::host::{Host, HostCall, HostConfig};
use crate::response::{AdmissionResponse, SettingsValidation, ValidationResponse};

/// A compiled policy module; compile once, instantiate many times (cheap).
#[derive(Clone)]
pub struct PolicyModule {
    engine: ModuleEngine,
}

/// Which waPC engine runs the module's instances.
#[derive(Clone)]
enum ModuleEngine {
    /// wasmtime-provider, as policy-server runs policies.
    Provider(Box<WasmtimeEngineProviderPre>),
    /// The fuel-counting engine of [`crate::fuel`], for the fuel guard only.
    Fuel(FuelModule),
}

/// How a module is compiled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// As policy-server compiles it, with its epoch interruption.
    Standard,
    /// As `Standard`, writing wasmtime's perf map.
    PerfMap,
    /// With fuel on and no epoch interruption (fuel bounds each call), for counting.
    Fuel,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyModule")
    }
}

impl PolicyModule {
    /// Reads and compiles a `.wasm` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::compile_file(path.as_ref(), Build::Standard)
    }

    /// Reads and compiles a `.wasm` file, and writes where each compiled function lies to
    /// `/tmp/perf-PID.map` (wasmtime's perf map: the function names of an unstripped wasm), so
    /// that a profiler such as callgrind can name the policy's own code. Nothing else changes.
    pub fn from_file_with_perf_map(path: impl AsRef<Path>) -> Result<Self> {
        Self::compile_file(path.as_ref(), Build::PerfMap)
    }

    /// Reads and compiles a `.wasm` file for counting its work in wasmtime fuel: its
    /// instances run on the fuel-counting engine of [`crate::fuel`] and [`Policy::fuel`]
    /// reads what they spent. There is no evaluation limit but the fuel each call gets
    /// ([`crate::fuel::FUEL_PER_CALL`]); the payloads and host calls are as with
    /// [`PolicyModule::from_file`].
    pub fn from_file_counting_fuel(path: impl AsRef<Path>) -> Result<Self> {
        Self::compile_file(path.as_ref(), Build::Fuel)
    }

    fn compile_file(path: &Path, build: Build) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::compile(&bytes, build).map_err(|e| match e {
            Error::Runtime(m) => Error::Runtime(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Compiles a module from its bytes (binary wasm, or WAT text).
    /// WASI (preview 1) is linked, as the policy is built for wasm32-wasip1.
    /// Epoch interruption is on, with policy-server's ticker: the engine's epoch advances
    /// every [`EPOCH_TICK`] for as long as the module is alive.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::compile(bytes, Build::Standard)
    }

    /// Compiles a module from its bytes for counting its work in wasmtime fuel, as
    /// [`PolicyModule::from_file_counting_fuel`] does.
    pub fn from_bytes_counting_fuel(bytes: &[u8]) -> Result<Self> {
        Self::compile(bytes, Build::Fuel)
    }

    fn compile(bytes: &[u8], build: Build) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        if let Some(cache) = compilation_cache() {
            config.cache(Some(cache));
        }
        if build == Build::PerfMap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if build == Build::Fuel {
            config.consume_fuel(true);
            // Fuel counts wasm operators, not machine code: the quickest compile will do.
            config.cranelift_opt_level(wasmtime::OptLevel::None);
        } else {
            config.epoch_interruption(true);
        }
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| Error::Runtime(format!("cannot create the engine: {e}")))?;
        let module = wasmtime::Module::new(&engine, bytes)
            .map_err(|e| Error::Runtime(format!("cannot compile the module: {e}")))?;
        let link_error =
            |e: &dyn std::fmt::Display| Error::Runtime(format!("cannot link the module: {e}"));
        let engine = if build == Build::Fuel {
            ModuleEngine::Fuel(FuelModule::new(&engine, &module).map_err(|e| link_error(&e))?)
        } else {
            start_ticker(&engine);
            let pre = WasmtimeEngineProviderBuilder::new()
                .engine(engine)
                .module(module)
                .build_pre()
                .map_err(|e| link_error(&e))?;
            ModuleEngine::Provider(Box::new(pre))
        };
        Ok(PolicyModule { engine })
    }

    /// A fresh instance whose host calls are answered according to `config`, stopped by
    /// `config.timeout_seconds` as policy-server stops it (a module counting fuel: by the
    /// fuel each call gets).
    pub fn instantiate(&self, config: HostConfig) -> Result<Policy> {
        let host = Host::new(config);
        let fuel = FuelMeter::default();
        let wapc = self.wapc_host(&host, &fuel)?;
        Ok(Policy {
            module: self.clone(),
            wapc: RefCell::new(wapc),
            host,
            fuel,
        })
    }

    fn wapc_host(&self, host: &Host, fuel: &FuelMeter) -> Result<WapcHost> {
        let engine: Box<dyn WebAssemblyEngineProvider> = match &self.engine {
            ModuleEngine::Provider(pre) => {
                // policy-server gives wapc_init and each call the same deadline, in ticks.
                // With the limit off, the deadline is one that never comes: epoch
                // interruption is on in the engine, and a store given no deadline would be
                // interrupted at once.
                let ticks = host.config().timeout_seconds.unwrap_or(NEVER);
                let engine = pre
                    .rehydrate(Some(EpochDeadlines {
                        wapc_init: ticks,
                        wapc_func: ticks,
                    }))
                    .map_err(|e| Error::Runtime(format!("cannot instantiate the module: {e}")))?;
                Box::new(engine)
            }
            ModuleEngine::Fuel(module) => Box::new(module.engine(fuel.clone())),
        };
        let callback_host = host.clone();
        WapcHost::new(
            engine,
            Some(Box::new(
                move |_id, binding, namespace, operation, payload| {
                    callback_host
                        .dispatch(binding, namespace, operation, payload)
                        .map_err(Into::into)
                },
            )),
        )
        .map_err(|e| Error::Runtime(format!("cannot start the waPC host: {e}")))
    }
}

/// policy-server's epoch ticker period: the evaluation limit counts in these.
pub const EPOCH_TICK: Duration = Duration::from_secs(1);

/// A deadline in ticks that never comes (some 35,000 years of 1 s ticks), for a host with
/// the limit off; small enough that adding it to the engine's epoch cannot overflow.
const NEVER: u64 = 1 << 40;

/// What wasmtime-provider reports when the deadline interrupts a guest call.
const INTERRUPTED: &str = "guest code interrupted, execution deadline exceeded";

/// policy-server's answer to a request whose policy was interrupted.
pub const INTERRUPTED_MESSAGE: &str =
    "Policy execution interrupted because it exceeded the allowed execution time";

/// Advances the engine's epoch every tick until the engine is dropped.
fn start_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        }
    });
}

/// Env var naming the directory of wasmtime's compilation cache; `off` disables it.
pub const CACHE_ENV: &str = "E2E_WASMTIME_CACHE";

/// wasmtime's on-disk compilation cache (policy-server enables it too): compiling the
/// policy takes seconds in a debug build, a cache hit milliseconds. Keyed by the module
/// and the compiler settings, so a rebuilt policy is never confused with an old one.
/// Defaults to `<temp>/e2e-tests-wasmtime-cache`; any failure just means no cache.
fn compilation_cache() -> Option<wasmtime::Cache> {
    let dir = match std::env::var_os(CACHE_ENV) {
        Some(v) if v == "off" => return None,
        Some(v) => std::path::PathBuf::from(v),
        None => std::env::temp_dir().join("e2e-tests-wasmtime-cache"),
    };
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(dir);
    wasmtime::Cache::new(config).ok()
}

/// A running policy instance.
pub struct Policy {
    module: PolicyModule,
    wapc: RefCell<WapcHost>,
    host: Host,
    /// What the instances spent, when the module counts fuel.
    fuel: FuelMeter,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("host", &self.host).finish()
    }
}

/// The uid of an AdmissionRequest, or "" when it has none.
pub fn request_uid(request: &Value) -> &str {
    request.get("uid").and_then(Value::as_str).unwrap_or("")
}

impl Policy {
    /// Compiles and instantiates `path` in one step.
    pub fn load(path: impl AsRef<Path>, config: HostConfig) -> Result<Self> {
        PolicyModule::from_file(path)?.instantiate(config)
    }

    /// Calls a waPC function and returns its raw answer.
    /// An interrupted instance is replaced by a fresh one, as policy-server does; with
    /// `instance_per_request`, every `validate` gets a fresh one.
    pub fn call(&self, function: &str, payload: &[u8]) -> Result<Vec<u8>> {
        if function == "validate" && self.host.config().instance_per_request {
            *self.wapc.borrow_mut() = self.module.wapc_host(&self.host, &self.fuel)?;
        }
        let answer = self.wapc.borrow().call(function, payload);
        answer.map_err(|e| {
            let text = e.to_string();
            if text.contains(INTERRUPTED) {
                if let Ok(fresh) = self.module.wapc_host(&self.host, &self.fuel) {
                    *self.wapc.borrow_mut() = fresh;
                }
                Error::Interrupted(text)
            } else {
                Error::Runtime(format!("calling {function:?}: {text}"))
            }
        })
    }

    /// The policy's protocol version (`"v1"` for current Kubewarden policies).
    pub fn protocol_version(&self) -> Result<String> {
        let raw = self.call("protocol_version", &[])?;
        serde_json::from_slice::<String>(&raw).map_err(|e| {
            Error::Protocol(format!(
                "protocol_version answered {:?}: {e}",
                String::from_utf8_lossy(&raw)
            ))
        })
    }

    /// `validate_settings` with the settings object (`{}` when there are none).
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        let payload = serde_json::to_vec(settings).map_err(|e| Error::invalid("settings", e))?;
        let raw = self.call("validate_settings", &payload)?;
        serde_json::from_slice(&raw).map_err(|e| {
            Error::Protocol(format!(
                "validate_settings answered {:?}: {e}",
                String::from_utf8_lossy(&raw)
            ))
        })
    }

    /// `validate` with `{"request": request, "settings": settings}`; the policy's raw answer.
    pub fn validate_raw(&self, request: &Value, settings: &Value) -> Result<ValidationResponse> {
        let payload = serde_json::to_vec(&json!({ "request": request, "settings": settings }))
            .map_err(|e| Error::invalid("request", e))?;
        let raw = self.call("validate", &payload)?;
        serde_json::from_slice(&raw).map_err(|e| {
            Error::Protocol(format!(
                "validate answered {:?}: {e}",
                String::from_utf8_lossy(&raw)
            ))
        })
    }

    /// `validate`, turned into the AdmissionResponse `kwctl run` prints. Like policy-server,
    /// a failing guest call becomes a rejection with code 500 rather than an error.
    pub fn validate(&self, request: &Value, settings: &Value) -> AdmissionResponse {
        let uid = request_uid(request);
        match self.validate_raw(request, settings) {
            Ok(resp) => {
                let object = request.get("object").filter(|o| !o.is_null());
                AdmissionResponse::from_validation(uid, object, &resp)
            }
            Err(Error::Interrupted(_)) => {
                AdmissionResponse::reject(uid, INTERRUPTED_MESSAGE, Some(500))
            }
            Err(e) => {
                AdmissionResponse::reject(uid, format!("internal server error: {e}"), Some(500))
            }
        }
    }

    /// What the current instance's start and the last call cost in wasmtime fuel, when the
    /// module was compiled by [`PolicyModule::from_file_counting_fuel`]; `None` otherwise.
    /// With `instance_per_request`, a `validate` starts a fresh instance: its `init` and
    /// `call` together are what the request cost, as policy-server runs it.
    pub fn fuel(&self) -> Option<Fuel> {
        matches!(self.module.engine, ModuleEngine::Fuel(_)).then(|| self.fuel.read())
    }

    /// Host calls the policy made so far.
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.host.calls()
    }

    /// Only the `oci/v1/manifest_digest` calls, with their image references.
    pub fn digest_lookups(&self) -> Vec<HostCall> {
        self.host
            .calls()
            .into_iter()
            .filter(|c| c.namespace == "oci" && c.operation == "v1/manifest_digest")
            .collect()
    }

    /// Only the `oci/v1/oci_manifest` calls, with their image references.
    pub fn manifest_lookups(&self) -> Vec<HostCall> {
        self.host
            .calls()
            .into_iter()
            .filter(|c| c.namespace == "oci" && c.operation == "v1/oci_manifest")
            .collect()
    }

    /// Only the `kubernetes/list_resources_by_namespace` calls, with their requests.
    pub fn list_calls(&self) -> Vec<HostCall> {
        self.host
            .calls()
            .into_iter()
            .filter(|c| c.namespace == "kubernetes" && c.operation == "list_resources_by_namespace")
            .collect()
    }

    /// Forgets the recorded host calls.
    pub fn clear_host_calls(&self) {
        self.host.clear_calls();
    }
}
