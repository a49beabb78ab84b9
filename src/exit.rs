//! How a command ends: the exit codes, and the one error type every subcommand returns. Errors are
//! printed once, by `run_in`, so each exit code and its line are decided in one place; warnings and
//! notices are printed where they occur.

use std::io::Write;

use crate::signals;

/// Exit codes: 0 done, 1 runtime failure (or a regression for `compare`), 2 bad input, 3 the run
/// finished but a test failed the error check, 4 a verdict that could not judge a change past its
/// threshold, 128 + the signal that stopped the run: 129 SIGHUP, 130 SIGINT (Ctrl-C), 143 SIGTERM.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CHECK: i32 = 3;
/// `compare`/`nightly`: a configuration moved past its threshold and could not be judged.
pub const EXIT_INCONCLUSIVE: i32 = 4;
/// Ctrl-C (SIGINT); see [`signals::exit_code`] for the others.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Any underlying error: its text is the line's message.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a command did not end with exit 0. Each variant is one line on stderr (or none, where the
/// reason was already shown on stdout or by a notice) and one exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input, as `who: message` (`rbench`, `rbench merge`, ...): exit 2.
    #[error("{who}: {cause}")]
    Usage { who: &'static str, cause: Cause },
    /// A runtime failure, as `who: message`: exit 1.
    #[error("{who}: {cause}")]
    Failed { who: &'static str, cause: Cause },
    /// A profile mistake: `file:line: message`, first on the line (the form editors and CI
    /// annotations jump to), exit 2.
    #[error("{0}")]
    Profile(Cause),
    /// The run finished but a test failed the error check (the line names it): exit 3.
    #[error("rbench: {0}")]
    Check(String),
    /// A regression; the verdict on stdout says which (no line): exit 1.
    #[error("a regression")]
    Regression,
    /// A change past a threshold that could not be judged; the verdict on stdout says which and
    /// what would judge it (no line): exit 4.
    #[error("inconclusive")]
    Inconclusive,
    /// Stopped by signal `.0` (no line): 128 + the signal.
    #[error("stopped by {}", signals::name(*.0))]
    Stopped(i32),
    /// Stopped by signal `.0` after what was measured was printed and saved: 128 + the signal.
    #[error(
        "rbench: interrupted by {}; results measured so far were reported and saved",
        signals::name(*.0)
    )]
    Interrupted(i32),
    /// `inner`'s line, exiting as the signal that stopped the run while it failed.
    #[error("{inner}")]
    Signalled { inner: Box<RunError>, sig: i32 },
    /// `first`'s lines, then `then`'s; exits as `first` does (a note that follows a failure).
    #[error("{first}; {then}")]
    Then {
        first: Box<RunError>,
        then: Box<RunError>,
    },
}

impl RunError {
    /// `who: cause`, exit 2.
    pub fn usage(who: &'static str, cause: impl Into<Cause>) -> RunError {
        RunError::Usage {
            who,
            cause: cause.into(),
        }
    }

    /// `who: cause`, exit 1.
    pub fn failed(who: &'static str, cause: impl Into<Cause>) -> RunError {
        RunError::Failed {
            who,
            cause: cause.into(),
        }
    }

    /// This error's lines, then `then`'s, with this error's exit code.
    pub fn then(self, then: RunError) -> RunError {
        RunError::Then {
            first: Box::new(self),
            then: Box::new(then),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Usage { .. } | RunError::Profile(_) => EXIT_USAGE,
            RunError::Failed { .. } | RunError::Regression => EXIT_FAIL,
            RunError::Check(_) => EXIT_CHECK,
            RunError::Inconclusive => EXIT_INCONCLUSIVE,
            RunError::Stopped(sig) | RunError::Interrupted(sig) => signals::exit_code(*sig),
            RunError::Signalled { sig, .. } => signals::exit_code(*sig),
            RunError::Then { first, .. } => first.exit_code(),
        }
    }

    /// Writes the error's lines (none for the silent ones).
    pub fn print(&self, err: &mut dyn Write) {
        match self {
            RunError::Regression | RunError::Inconclusive | RunError::Stopped(_) => {}
            RunError::Signalled { inner, .. } => inner.print(err),
            RunError::Then { first, then } => {
                first.print(err);
                then.print(err);
            }
            e => {
                let _ = writeln!(err, "{e}");
            }
        }
    }
}

/// The exit code of a command's result, its error printed first.
pub fn code(res: Result<(), RunError>, err: &mut dyn Write) -> i32 {
    match res {
        Ok(()) => EXIT_OK,
        Err(e) => {
            e.print(err);
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(e: &RunError) -> String {
        let mut buf = Vec::new();
        e.print(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn lines_and_codes() {
        let e = RunError::usage("rbench merge", "no files");
        assert_eq!(
            (printed(&e).as_str(), e.exit_code()),
            ("rbench merge: no files\n", 2)
        );
        let e = RunError::Profile("p.toml:3: bad key".into());
        assert_eq!(
            (printed(&e).as_str(), e.exit_code()),
            ("p.toml:3: bad key\n", 2)
        );
        let e = RunError::Stopped(libc::SIGTERM);
        assert_eq!((printed(&e).as_str(), e.exit_code()), ("", 143));
        assert_eq!(
            (
                printed(&RunError::Regression).as_str(),
                RunError::Regression.exit_code()
            ),
            ("", 1)
        );
    }

    #[test]
    fn a_note_after_a_failure_keeps_its_code() {
        let e = RunError::Check("GET: 3 errors".into())
            .then(RunError::failed("rbench nightly", "night not judged"));
        assert_eq!(
            printed(&e),
            "rbench: GET: 3 errors\nrbench nightly: night not judged\n"
        );
        assert_eq!(e.exit_code(), EXIT_CHECK);
        let e = RunError::Signalled {
            inner: Box::new(RunError::failed("rbench", "x: refused")),
            sig: libc::SIGINT,
        }
        .then(RunError::Interrupted(libc::SIGINT));
        assert_eq!(
            printed(&e),
            "rbench: x: refused\nrbench: interrupted by SIGINT; results measured so far were reported and saved\n"
        );
        assert_eq!(e.exit_code(), 130);
    }
}
