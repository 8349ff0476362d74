//! Which moto to run: the local stack's wrapper or stock `moto_server`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A moto program and the arguments before `-H 127.0.0.1 -p PORT` (both take moto_server's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoCommand {
    pub(crate) program: PathBuf,
    pub(crate) pre_args: Vec<OsString>,
    /// Files that must exist for the command to work: the program, the wrapper script.
    pub(crate) required: Vec<PathBuf>,
}

impl MotoCommand {
    /// The local stack's moto: `python <root>/local/moto/moto_server.py` (moto with
    /// bucket-policy evaluation off and inventory configurations read back as put — see that
    /// file). The demo and the end-to-end tests run this one.
    pub fn local_stack(python: impl Into<PathBuf>, root: &Path) -> Self {
        let program = python.into();
        let script = root.join("local/moto/moto_server.py");
        Self {
            required: vec![program.clone(), script.clone()],
            pre_args: vec![script.into_os_string()],
            program,
        }
    }

    /// The same moto with Step Functions executing: the interpreter's Lambda calls go to
    /// `lambda_endpoint` (`lakevault-local serve`), and Wait states and Retry intervals last
    /// `wait_time_scale` times as long (see `local/moto/moto_server.py`). Only for
    /// [`MotoCommand::local_stack`]: stock moto_server has neither flag.
    pub fn with_step_functions(mut self, lambda_endpoint: &str, wait_time_scale: f64) -> Self {
        self.pre_args.extend([
            OsString::from("--lambda-endpoint"),
            OsString::from(lambda_endpoint),
            OsString::from("--wait-time-scale"),
            OsString::from(wait_time_scale.to_string()),
        ]);
        self
    }

    /// Stock moto: the `moto_server` executable at `path` (tests of a policy's content use it,
    /// because the local stack's moto does not evaluate policies).
    pub fn moto_server(path: impl Into<PathBuf>) -> Self {
        let program = path.into();
        Self {
            required: vec![program.clone()],
            pre_args: Vec::new(),
            program,
        }
    }

    /// The project venv's Python under `root` (`make venv` creates it).
    pub fn venv_python(root: &Path) -> PathBuf {
        root.join(".venv/bin/python")
    }

    /// The project venv's `moto_server` under `root`.
    pub fn venv_moto_server(root: &Path) -> PathBuf {
        root.join(".venv/bin/moto_server")
    }

    /// The executable it runs.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_stack_runs_the_wrapper_script_under_python() {
        let root = Path::new("/repo");
        let c = MotoCommand::local_stack(MotoCommand::venv_python(root), root);
        assert_eq!(c.program(), Path::new("/repo/.venv/bin/python"));
        assert_eq!(
            c.pre_args,
            vec![OsString::from("/repo/local/moto/moto_server.py")]
        );
        assert_eq!(c.required.len(), 2);
        let sfn = c.clone().with_step_functions("http://127.0.0.1:9001", 0.01);
        assert_eq!(
            sfn.pre_args[1..],
            [
                "--lambda-endpoint",
                "http://127.0.0.1:9001",
                "--wait-time-scale",
                "0.01"
            ]
            .map(OsString::from)
        );
        let stock = MotoCommand::moto_server(MotoCommand::venv_moto_server(root));
        assert_eq!(stock.program(), Path::new("/repo/.venv/bin/moto_server"));
        assert!(stock.pre_args.is_empty());
    }
}
