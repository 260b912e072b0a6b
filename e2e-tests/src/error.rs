//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the harness; each variant says where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Input (a request, settings, a manifest...) is not what it should be.
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    /// An image reference does not follow the distribution/reference grammar.
    #[error("invalid image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },

    /// A registry could not be reached or answered badly.
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },

    /// A registry that is not on loopback: the harness never sends traffic there.
    #[error(
        "refusing to contact registry {registry} (for {image:?}): this host only talks to \
         loopback registries; map it with --registry-mirror {registry}=127.0.0.1:PORT"
    )]
    NotLoopback { registry: String, image: String },

    /// The waPC/wasmtime runtime failed (loading, instantiation or a guest call).
    #[error("wasm runtime: {0}")]
    Runtime(String),

    /// The host's evaluation deadline interrupted the guest (policy-server's epoch limit).
    #[error("wasm runtime: {0}")]
    Interrupted(String),

    /// The policy answered something that is not valid for the protocol.
    #[error("policy protocol: {0}")]
    Protocol(String),

    /// An external tool (docker-registry, umoci, skopeo) failed.
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl ToString) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn registry(registry: impl Into<String>, message: impl ToString) -> Self {
        Error::Registry {
            registry: registry.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn tool(tool: impl Into<String>, message: impl ToString) -> Self {
        Error::Tool {
            tool: tool.into(),
            message: message.to_string(),
        }
    }
}
