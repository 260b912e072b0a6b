//! Counting a policy's work in wasmtime fuel, for the guard of `tests/fuel_budget.rs`
//! (`docs/testing.md`). Nothing else uses fuel: policy-server does not, and neither do the
//! other tests, `kwrun` nor `bench`.
//!
//! Fuel counts the wasm operators a guest runs (most cost 1; `nop`, `drop`, `block`, `loop`,
//! `end` and the like cost 0), whatever the machine's load and the code the JIT made of them:
//! the same module, payload and host answers cost the same fuel every run.
//!
//! wasmtime-provider, the engine [`crate::policy`] runs policies on as policy-server does,
//! builds each `Store` itself and never gives it fuel, so on an engine with fuel on every
//! call would trap at its first operator. This module is a second waPC engine, for counting
//! only: the same module, WASI preview 1 and the waPC imports as wasmtime-provider links them
//! (after its `callbacks.rs`), in a store of its own that it fills before each call. It
//! plugs into [`wapc::WapcHost`] as wasmtime-provider does, so all the rest (the payload, the
//! host calls of [`crate::host`], the answer) is the code every other test runs.
//!
//! What a count could otherwise depend on is held still: WASI's random bytes (std's
//! `HashMap` seeds) are a fixed cycle, and both WASI clocks stand still.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wapc::{HOST_NAMESPACE, ModuleState, WebAssemblyEngineProvider, wapc_functions};
use wasmtime_provider::wasmtime::{
    self, AsContext, Caller, Engine, InstancePre, Linker, Module, Store, TypedFunc, format_err,
};
use wasmtime_provider::wasmtime_wasi::{
    self, Deterministic, HostMonotonicClock, HostWallClock, I32Exit, WasiCtxBuilder, p1::WasiP1Ctx,
};

/// The fuel each call gets: a thousand times what a 35-container Deployment costs, so that a
/// policy that loops forever fails its call instead of hanging the test.
pub const FUEL_PER_CALL: u64 = 2_000_000_000;

/// What the policy's work cost, in fuel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fuel {
    /// Starting the current instance: its `_start` and `wapc_init`, which policy-server runs
    /// for every request (it instantiates the module for each).
    pub init: u64,
    /// The last guest call (`validate`, `validate_settings`, ...).
    pub call: u64,
}

/// Where the engines of one [`crate::Policy`] write what they spent; the instances that
/// replace one another (a fresh one per request) share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct FuelMeter(Arc<Mutex<Fuel>>);

impl FuelMeter {
    pub(crate) fn read(&self) -> Fuel {
        self.0.lock().map(|f| *f).unwrap_or_default()
    }

    fn write(&self, update: impl FnOnce(&mut Fuel)) {
        if let Ok(mut fuel) = self.0.lock() {
            update(&mut fuel);
        }
    }
}

/// A module linked for counting; compile once, instantiate many times.
#[derive(Clone)]
pub(crate) struct FuelModule {
    engine: Engine,
    pre: InstancePre<FuelStore>,
}

impl FuelModule {
    /// Links `module`, compiled by `engine` (which must have fuel on), with WASI preview 1
    /// (and preview 0, as wasmtime-provider does) and the waPC imports.
    pub(crate) fn new(engine: &Engine, module: &Module) -> wasmtime::Result<Self> {
        let mut linker: Linker<FuelStore> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut FuelStore| &mut s.wasi)?;
        wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |s: &mut FuelStore| &mut s.wasi)?;
        add_wapc_imports(&mut linker)?;
        let pre = linker.instantiate_pre(module)?;
        Ok(FuelModule {
            engine: engine.clone(),
            pre,
        })
    }

    /// An engine for one [`wapc::WapcHost`], writing what it spends to `meter`.
    pub(crate) fn engine(&self, meter: FuelMeter) -> FuelEngine {
        FuelEngine {
            module: self.clone(),
            meter,
            running: None,
        }
    }
}

/// What the guest's store holds.
struct FuelStore {
    wasi: WasiP1Ctx,
    state: Arc<ModuleState>,
}

/// One instance, counted; a [`WebAssemblyEngineProvider`] like wasmtime-provider's.
pub(crate) struct FuelEngine {
    module: FuelModule,
    meter: FuelMeter,
    running: Option<Running>,
}

struct Running {
    store: Store<FuelStore>,
    guest_call: TypedFunc<(i32, i32), i32>,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl WebAssemblyEngineProvider for FuelEngine {
    fn init(&mut self, state: Arc<ModuleState>) -> Result<(), BoxError> {
        let wasi = still_wasi();
        let mut store = Store::new(&self.module.engine, FuelStore { wasi, state });
        store.set_fuel(FUEL_PER_CALL)?;
        let instance = self.module.pre.instantiate(&mut store)?;
        for start in wapc_functions::REQUIRED_STARTS {
            let Some(func) = instance.get_func(&mut store, start) else {
                continue;
            };
            let func = func.typed::<(), ()>(&store)?;
            if let Err(e) = func.call(&mut store, ()) {
                // A WASI program may end its `_start` with exit(0), as wasmtime-provider allows.
                if e.downcast_ref::<I32Exit>().is_none_or(|exit| exit.0 != 0) {
                    return Err(format!("{start}: {}", describe(&e)).into());
                }
            }
        }
        let spent = FUEL_PER_CALL - store.get_fuel()?;
        self.meter.write(|f| {
            *f = Fuel {
                init: spent,
                call: 0,
            }
        });
        let guest_call = instance.get_typed_func(&mut store, wapc_functions::GUEST_CALL)?;
        self.running = Some(Running { store, guest_call });
        Ok(())
    }

    fn call(&mut self, op_length: i32, msg_length: i32) -> Result<i32, BoxError> {
        let running = self
            .running
            .as_mut()
            .ok_or("the instance was not started")?;
        let store = &mut running.store;
        store.set_fuel(FUEL_PER_CALL)?;
        let answer = running
            .guest_call
            .call(&mut *store, (op_length, msg_length));
        let spent = FUEL_PER_CALL - store.get_fuel()?;
        self.meter.write(|f| f.call = spent);
        answer.or_else(|e| {
            // As wasmtime-provider does: a trap is the call's error, for the waPC host to report.
            store.data().state.set_guest_error(describe(&e));
            Ok(0)
        })
    }

    fn replace(&mut self, _module: &[u8]) -> Result<(), BoxError> {
        Err("the fuel-counting engine does not replace modules".into())
    }
}

/// A trap's message; running out of fuel says how much the call had.
fn describe(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => {
            format!("out of fuel: the call ran past its {FUEL_PER_CALL} fuel")
        }
        _ => e.to_string(),
    }
}

/// WASI with nothing that changes from run to run: no arguments, no environment, fixed
/// random bytes, clocks that stand still; stdio is inherited, as wasmtime-provider does.
fn still_wasi() -> WasiP1Ctx {
    let bytes = || Deterministic::new((0u8..=255).collect());
    let mut builder = WasiCtxBuilder::new();
    builder
        .inherit_stdio()
        .secure_random(bytes())
        .insecure_random(bytes())
        .insecure_random_seed(0)
        .wall_clock(StillClock)
        .monotonic_clock(StillClock);
    builder.build_p1()
}

/// A clock that always reads the same time.
struct StillClock;

impl HostWallClock for StillClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        // 2026-12-01T00:00:00Z
        Duration::from_secs(1_796_083_200)
    }
}

impl HostMonotonicClock for StillClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

// ---- the waPC imports, as wasmtime-provider's callbacks.rs defines them ----

fn add_wapc_imports(linker: &mut Linker<FuelStore>) -> wasmtime::Result<()> {
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::GUEST_REQUEST_FN,
        |mut caller: Caller<'_, FuelStore>, op_ptr: i32, ptr: i32| {
            if let Some(invocation) = caller.data().state.get_guest_request() {
                write(&mut caller, ptr, &invocation.msg)?;
                write(&mut caller, op_ptr, invocation.operation.as_bytes())?;
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::GUEST_RESPONSE_FN,
        |mut caller: Caller<'_, FuelStore>, ptr: i32, len: i32| {
            let response = read(&mut caller, ptr, len)?;
            caller.data().state.set_guest_response(response);
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::GUEST_ERROR_FN,
        |mut caller: Caller<'_, FuelStore>, ptr: i32, len: i32| {
            let message = text(read(&mut caller, ptr, len)?)?;
            caller.data().state.set_guest_error(message);
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_CALL,
        |mut caller: Caller<'_, FuelStore>,
         bd_ptr: i32,
         bd_len: i32,
         ns_ptr: i32,
         ns_len: i32,
         op_ptr: i32,
         op_len: i32,
         ptr: i32,
         len: i32| {
            let binding = text(read(&mut caller, bd_ptr, bd_len)?)?;
            let namespace = text(read(&mut caller, ns_ptr, ns_len)?)?;
            let operation = text(read(&mut caller, op_ptr, op_len)?)?;
            let payload = read(&mut caller, ptr, len)?;
            let state = &caller.data().state;
            Ok(state
                .do_host_call(&binding, &namespace, &operation, &payload)
                .unwrap_or(0))
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_RESPONSE_FN,
        |mut caller: Caller<'_, FuelStore>, ptr: i32| {
            let state = caller.data().state.clone();
            state
                .with_host_response(|bytes| write(&mut caller, ptr, bytes))
                .unwrap_or(Ok(()))
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_RESPONSE_LEN_FN,
        |caller: Caller<'_, FuelStore>| length(caller.data().state.host_response_len()),
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_ERROR_FN,
        |mut caller: Caller<'_, FuelStore>, ptr: i32| {
            let error = caller.data().state.get_host_error();
            match error {
                Some(message) => write(&mut caller, ptr, message.as_bytes()),
                None => Ok(()),
            }
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_ERROR_LEN_FN,
        |caller: Caller<'_, FuelStore>| {
            length(caller.data().state.get_host_error().map_or(0, |e| e.len()))
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        wapc_functions::HOST_CONSOLE_LOG,
        |mut caller: Caller<'_, FuelStore>, ptr: i32, len: i32| {
            let message = text(read(&mut caller, ptr, len)?)?;
            caller.data().state.do_console_log(&message);
            Ok(())
        },
    )?;
    Ok(())
}

/// The guest's exported memory.
fn memory(caller: &mut Caller<'_, FuelStore>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| format_err!("the guest exports no memory"))
}

/// `len` bytes of the guest's memory from `ptr`.
fn read(caller: &mut Caller<'_, FuelStore>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let (start, len) = (
        usize::try_from(ptr).map_err(|_| format_err!("negative pointer {ptr}"))?,
        usize::try_from(len).map_err(|_| format_err!("negative length {len}"))?,
    );
    start
        .checked_add(len)
        .and_then(|end| memory.data(caller.as_context()).get(start..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("{len} bytes at {start} lie outside the guest's memory"))
}

fn write(caller: &mut Caller<'_, FuelStore>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let start = usize::try_from(ptr).map_err(|_| format_err!("negative pointer {ptr}"))?;
    memory
        .write(caller, start, bytes)
        .map_err(|e| format_err!("{e}"))
}

fn text(bytes: Vec<u8>) -> wasmtime::Result<String> {
    String::from_utf8(bytes).map_err(|e| format_err!("not UTF-8: {e}"))
}

fn length(len: usize) -> wasmtime::Result<i32> {
    i32::try_from(len).map_err(|_| format_err!("{len} bytes do not fit an i32 length"))
}
