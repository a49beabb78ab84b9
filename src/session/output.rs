//! What a session shows and keeps: each phase's rows printed and saved as they come, and at the end
//! the summary, the JSON, and the run's verdict.

use super::Session;
use crate::exit::RunError;
use crate::report::{self, TestResult, files};
use crate::{render, signals};

impl Session<'_> {
    /// Prints the rows, keeps them, and saves them at once. A phase stopped before it began (while
    /// waiting for --start-at) has none, and leaves no files.
    pub(super) fn publish(&mut self, new: Vec<TestResult>) {
        if new.is_empty() {
            return;
        }
        for r in &new {
            self.printer.row(self.out, self.err, r);
        }
        let first_new = self.results.len();
        self.results.extend(new);
        self.save(first_new);
    }

    /// Appends the newest rows and rewrites the run's other files. A failure to write is reported
    /// as it happens but does not throw away the rest of the run (nor change its exit code).
    fn save(&mut self, first_new: usize) {
        let Some(dir) = &self.plan.output.out_dir else {
            return;
        };
        let o = &self.plan.output;
        if let Err(e) =
            files::append_long_csv(dir, o.long_csv, &self.meta, &self.results[first_new..])
        {
            let _ = writeln!(self.err, "rbench: {e}");
        }
        if !o.run_files {
            return;
        }
        if let Err(e) = files::write_run_files(dir, &self.meta, &self.results, first_new) {
            let _ = writeln!(self.err, "rbench: {e}");
        } else if let Err(e) = render::write_run(dir, &self.meta.run_id) {
            let _ = writeln!(self.err, "rbench: the HTML report: {e}");
        }
    }

    /// Search progress goes to the default console only (-q and --csv print the result row alone).
    pub(super) fn say(&mut self, text: &str) {
        self.printer.note(self.out, text);
    }

    /// The summary and the JSON, then how the run ends: `ran` (how the runs went), else the error
    /// check's verdict.
    pub(super) fn finish(self, ran: Result<(), RunError>) -> Result<(), RunError> {
        let _saving = signals::saving();
        let o = &self.plan.output;
        self.printer
            .summary(self.out, &self.results, &self.meta.run_id);
        if o.json.as_ref().is_some_and(|p| p.as_os_str() == "-") {
            let _ = writeln!(self.out, "{}", files::json(&self.meta, &self.results));
        } else if let Some(path) = &o.json
            && let Err(e) =
                files::write_atomic(path, files::json(&self.meta, &self.results).as_bytes())
        {
            // A run that failed already exits as it failed; the JSON's failure is said after.
            let json = RunError::failed("rbench", e);
            return Err(match ran {
                Ok(()) => json,
                Err(first) => first.then(json),
            });
        }
        if let Err(e) = ran {
            // A stopped run says that what it measured was kept.
            return Err(match signals::stopped_by(self.stop) {
                Some(sig) if e.exit_code() == signals::exit_code(sig) => {
                    e.then(RunError::Interrupted(sig))
                }
                _ => e,
            });
        }
        match report::error_check(&self.results, self.plan.max_error_rate) {
            Some(line) => Err(RunError::Check(line)),
            None => Ok(()),
        }
    }
}
