//! One entry point, two modes.
//!
//! * Inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set) the binary serves invocations through
//!   `lambda_runtime`; a failure is reported as `{"errorType", "errorMessage"}` with the step's
//!   stable errorType.
//! * Anywhere else it reads one JSON event on stdin and prints the output JSON on stdout. On
//!   failure it prints the same error JSON on stdout and exits with status 1 (2 when the step
//!   could not even start). Logs go to stderr so stdout stays machine-readable.
//!
//! `<step> --schema input|output` prints the step's JSON Schema, `<step> --error-types` the
//! errorTypes it can emit.

use std::future::Future;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use serde_json::value::RawValue;

use crate::error::{ENTRY_ERROR_TYPES, InvalidInput, StepError};
use crate::event::{MAX_EVENT_BYTES, parse_event};

/// A workflow step: typed input, typed output, typed errors.
pub trait Step: Send + Sync + 'static {
    /// Package, binary and Lambda function name (kebab-case verb-noun).
    const NAME: &'static str;
    /// The event the step accepts.
    type Input: DeserializeOwned + JsonSchema + Send;
    /// What the step returns.
    type Output: Serialize + JsonSchema + Send;
    /// Its errors; variant names are errorTypes.
    type Error: StepError;

    /// Rewords an input error in the step's own terms before it is reported (e.g. a field that
    /// callers spell another way through a serde alias). The default leaves it as it is.
    fn explain_input_error(e: InvalidInput) -> InvalidInput {
        e
    }

    /// Handles one event. Must be idempotent: the state machine may retry or redrive it.
    fn handle(
        &self,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Every errorType a step can emit, from its error enum and the entry point.
pub fn error_types<S: Step>() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = ENTRY_ERROR_TYPES.to_vec();
    for t in <S::Error as StepError>::error_types() {
        if !all.contains(t) {
            all.push(t);
        }
    }
    all
}

/// The JSON Schema of a step's input.
pub fn input_schema<S: Step>() -> Value {
    canonical(serde_json::to_value(schemars::schema_for!(S::Input)).unwrap_or(Value::Null))
}

/// The JSON Schema of a step's output.
pub fn output_schema<S: Step>() -> Value {
    canonical(serde_json::to_value(schemars::schema_for!(S::Output)).unwrap_or(Value::Null))
}

/// Objects with their keys sorted. Whether serde_json keeps insertion order depends on the
/// features other crates of a build enable (`preserve_order`), so the committed schemas are
/// written in one order that every build reproduces.
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Runs one event through a step, from raw JSON to raw JSON. Used by both modes (and tests).
/// Only a JSON object is an event (see [`crate::event`]).
pub async fn invoke<S: Step>(step: &S, event: Value) -> Result<Value, Diagnostic> {
    crate::event::check_object(&event).map_err(|e| diagnostic_of(&e))?;
    crate::event::refuse_positional_objects(&event, &input_schema::<S>())
        .map_err(|e| diagnostic_of(&e))?;
    let input: S::Input = serde_path_to_error::deserialize(event)
        .map_err(|e| diagnostic_of(&S::explain_input_error(InvalidInput::from_serde(e))))?;
    match step.handle(input).await {
        Ok(out) => serde_json::to_value(out).map_err(|e| Diagnostic {
            // Serialising our own output cannot fail for these types; report it plainly if it does.
            error_type: "InternalError".to_owned(),
            error_message: format!("could not serialise the output: {e}"),
        }),
        Err(e) => {
            tracing::warn!(step = S::NAME, error_type = e.error_type(), error = %e, "step failed");
            Err(e.to_diagnostic())
        }
    }
}

fn diagnostic_of(e: &InvalidInput) -> Diagnostic {
    Diagnostic {
        error_type: "InvalidInput".to_owned(),
        error_message: e.to_string(),
    }
}

/// The error JSON both modes print: `{"errorType": ..., "errorMessage": ...}`.
pub fn error_json(d: &Diagnostic) -> Value {
    serde_json::json!({"errorType": d.error_type, "errorMessage": d.error_message})
}

/// The whole of a step's `main`: builds the step once (config read, clients built) and serves
/// events in the mode the environment asks for.
pub async fn run<S, F, Fut, E>(init: F) -> ExitCode
where
    S: Step,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<S, E>>,
    E: std::fmt::Display,
{
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    init_tracing(lambda);

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = meta_command::<S>(&args) {
        return code;
    }

    let step = match init().await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            // A step that cannot start (bad configuration) is not an input problem: exit 2.
            let d = Diagnostic {
                error_type: "ConfigurationError".to_owned(),
                error_message: format!("{} could not start: {e}", S::NAME),
            };
            tracing::error!(step = S::NAME, error = %d.error_message, "init failed");
            println!("{}", error_json(&d));
            return ExitCode::from(2);
        }
    };

    if lambda {
        // The payload arrives as text so that parse_event sees it as sent (duplicate keys).
        let handler = service_fn(move |ev: LambdaEvent<Box<RawValue>>| {
            let step = Arc::clone(&step);
            async move {
                let event = parse_event(ev.payload.get()).map_err(|e| diagnostic_of(&e))?;
                invoke(&*step, event).await
            }
        });
        match lambda_runtime::run(handler).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(step = S::NAME, error = %e, "lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    } else {
        run_once(&*step).await
    }
}

async fn run_once<S: Step>(step: &S) -> ExitCode {
    let mut raw = String::new();
    // One byte over the cap is enough to know the event is too large.
    let limit = (MAX_EVENT_BYTES + 1) as u64;
    let result = match std::io::stdin().take(limit).read_to_string(&mut raw) {
        Err(e) => Err(diagnostic_of(&InvalidInput::new(
            "$",
            format!("could not read the event from stdin: {e}"),
        ))),
        Ok(_) => match parse_event(&raw) {
            Err(e) => Err(diagnostic_of(&e)),
            Ok(event) => invoke(step, event).await,
        },
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(d) => {
            println!("{}", error_json(&d));
            ExitCode::FAILURE
        }
    }
}

fn meta_command<S: Step>(args: &[String]) -> Option<ExitCode> {
    let first = args.first()?;
    let print = |v: &Value| {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    };
    match first.as_str() {
        "--schema" => match args.get(1).map(String::as_str) {
            Some("input") => print(&input_schema::<S>()),
            Some("output") => print(&output_schema::<S>()),
            _ => {
                eprintln!("usage: {} --schema input|output", S::NAME);
                return Some(ExitCode::from(2));
            }
        },
        "--error-types" => {
            for t in error_types::<S>() {
                println!("{t}");
            }
        }
        "-h" | "--help" => {
            println!(
                "{name}: a lakevault workflow step.\n\n\
                 usage: {name} < event.json     run one event, print the output JSON\n       \
                 {name} --schema input|output   print the JSON Schema\n       \
                 {name} --error-types           list the errorTypes it can emit\n\n\
                 Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves invocations instead.",
                name = S::NAME
            );
        }
        other => {
            eprintln!("{}: unknown argument {other:?}; try --help", S::NAME);
            return Some(ExitCode::from(2));
        }
    }
    Some(ExitCode::SUCCESS)
}

/// Logs to stderr (stdout carries the output): JSON lines inside Lambda (CloudWatch Logs
/// Insights parses them), compact text elsewhere; `RUST_LOG` filters, `info` by default. Also
/// used by lakevault's operator tools and the local stack.
pub fn init_tracing(lambda: bool) {
    init_tracing_with_default(lambda, "info");
}

/// [`init_tracing`] with another filter when `RUST_LOG` is unset (a command whose stdout tells
/// its own story, such as `lakevault-local demo`, defaults to `warn`).
pub fn init_tracing_with_default(lambda: bool, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a test that calls run() twice must not panic on a second global subscriber.
    let _ = if lambda {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
