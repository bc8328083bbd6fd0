//! Atomic writes: a file is written to `NAME.partial` in the same directory, then
//! renamed; a run folder is written to a temporary sibling, then renamed.
//!
//! A crash or an error half way leaves at most a `.partial` file (or a hidden
//! `.NAME.partial-PID` folder) behind, never a truncated file or a half-written run
//! folder under the final name. Leftovers of killed runs are removed by the next run
//! into the same place ([`RunDir::begin`], [`clean_partial_files`]).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Path of the temporary file used while `path` is being written.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Write a file atomically. `fill` writes the content into a buffered writer; only
/// when it returns `Ok` is the file renamed into place.
pub fn write_atomic<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    if ABANDONED.load(Ordering::SeqCst) {
        return Err(abandoned());
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
    }
    let tmp = partial_path(path);
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Atomically move a finished temporary file (e.g. one written by a plotting
/// backend that insists on a path) into place.
pub fn commit_file(tmp: &Path, path: &Path) -> io::Result<()> {
    if ABANDONED.load(Ordering::SeqCst) {
        return Err(abandoned());
    }
    fs::rename(tmp, path)
}

/// Remove the `*.partial` files a killed writer left in `dir` (not recursive). Returns
/// how many were removed.
pub fn clean_partial_files(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".partial") && entry.file_type()?.is_file()
        {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Why a run folder could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{} already exists and is not empty; pass --overwrite to replace it (the old folder is removed only once the new run is complete)", .path.display())]
    Exists { path: PathBuf },
    #[error("--out {}: expected a folder name", .path.display())]
    NoName { path: PathBuf },
    #[error("cannot write the run folder {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Temporary folders of runs in progress in this process, for [`abandon_all`].
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A run folder that is complete or absent: everything is written into a temporary
/// sibling (`.NAME.partial-PID`), which [`RunDir::finish`] renames to `NAME` as the
/// last step. Dropped without `finish` (an error), the temporary folder is removed.
#[derive(Debug)]
pub struct RunDir {
    out: PathBuf,
    tmp: PathBuf,
    overwrite: bool,
    finished: bool,
}

fn is_empty_dir(p: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(p)?.next().is_none())
}

/// Is process `pid` alive? (A folder of a live run is never removed.)
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        // SAFETY: kill with signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

impl RunDir {
    /// Start a run folder at `out`. Refuses an existing non-empty `out` unless
    /// `overwrite`; removes the temporary folders of killed runs into `out`.
    pub fn begin(out: &Path, overwrite: bool) -> Result<RunDir, RunDirError> {
        let io = |source| RunDirError::Io {
            path: out.to_path_buf(),
            source,
        };
        let name = out
            .file_name()
            .filter(|n| *n != ".." && *n != ".")
            .ok_or_else(|| RunDirError::NoName {
                path: out.to_path_buf(),
            })?
            .to_string_lossy()
            .to_string();
        if out.exists() && !overwrite && !(out.is_dir() && is_empty_dir(out).map_err(io)?) {
            return Err(RunDirError::Exists {
                path: out.to_path_buf(),
            });
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io)?;
        let prefix = format!(".{name}.partial-");
        for entry in fs::read_dir(&parent).map_err(io)?.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            // `.NAME.partial-PID`, `.NAME.partial-PID.old` or `.NAME.partial-PID.abandoned`.
            let pid = file.strip_prefix(&prefix).and_then(|p| p.split('.').next());
            let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io)?;
        }
        fs::create_dir(&tmp).map_err(io)?;
        {
            // Registered under the lock `abandon_all` takes after raising its flag, so
            // a folder is either seen by it or never started.
            let mut runs = IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
            if abandoning() {
                drop(runs);
                let _ = fs::remove_dir_all(&tmp);
                return Err(io(abandoned()));
            }
            runs.push(tmp.clone());
        }
        Ok(RunDir {
            out: out.to_path_buf(),
            tmp,
            overwrite,
            finished: false,
        })
    }

    /// Where to write the run's files.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The final folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Move the finished run into place (replacing the old folder under
    /// `--overwrite`).
    pub fn finish(mut self) -> Result<PathBuf, RunDirError> {
        let io = |source| RunDirError::Io {
            path: self.out.clone(),
            source,
        };
        let mut old = None;
        if self.out.exists() && !(self.out.is_dir() && is_empty_dir(&self.out).map_err(io)?) {
            if !self.overwrite {
                return Err(RunDirError::Exists {
                    path: self.out.clone(),
                });
            }
            let mut name = self.tmp.file_name().unwrap_or_default().to_os_string();
            name.push(".old");
            let aside = self.tmp.with_file_name(name);
            fs::rename(&self.out, &aside).map_err(io)?;
            old = Some(aside);
        }
        fs::rename(&self.tmp, &self.out).map_err(io)?;
        self.finished = true;
        forget(&self.tmp);
        if let Some(old) = old {
            let _ = fs::remove_dir_all(old);
        }
        Ok(self.out.clone())
    }
}

fn forget(tmp: &Path) {
    IN_PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| p != tmp);
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.tmp);
            forget(&self.tmp);
        }
    }
}

/// Set once the process is abandoning its runs: from then on no file is written.
static ABANDONED: AtomicBool = AtomicBool::new(false);

/// Is a signal handler removing this process's unfinished runs? (Then the thread
/// that ran the command must not exit the process before the handler is done.)
pub fn abandoning() -> bool {
    ABANDONED.load(Ordering::SeqCst)
}

fn abandoned() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the run was interrupted")
}

/// The temporary folders [`abandon_all`] has removed, kept for its next sweep.
static ABANDONED_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remove the temporary folders of every unfinished run of this process (for a
/// signal handler about to exit: nothing half-written stays behind).
///
/// Other threads may still be writing: from now on [`write_atomic`] and
/// [`commit_file`] refuse, each folder is first renamed aside (so a writer holding its
/// path fails instead of filling it again) and removed, and the sweep is repeated a
/// few times in case a writer recreated a folder in between. A later call sweeps the
/// same folders again (a writer that was between its check and creating a folder when
/// the flag rose may have recreated one since).
pub fn abandon_all() {
    ABANDONED.store(true, Ordering::SeqCst);
    let mut dirs = ABANDONED_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    dirs.extend(std::mem::take(
        &mut *IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    for _ in 0..5 {
        for d in dirs.iter() {
            if d.exists() {
                let mut name = d.file_name().unwrap_or_default().to_os_string();
                name.push(".abandoned");
                let aside = d.with_file_name(name);
                let gone = fs::rename(d, &aside).map_or(d.clone(), |_| aside);
                let _ = fs::remove_dir_all(gone);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let r = write_atomic(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert!(!p.exists());
        assert!(!partial_path(&p).exists());
    }

    #[test]
    fn success_renames() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.csv");
        write_atomic(&p, |w| w.write_all(b"a,b\n")).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "a,b\n");
    }

    #[test]
    fn run_dir_is_complete_or_absent() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        // An error half way: nothing under the final name, no temporary folder.
        {
            let r = RunDir::begin(&out, false).unwrap();
            fs::write(r.path().join("a.csv"), "x").unwrap();
        }
        assert!(!out.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // Finished: renamed into place.
        let r = RunDir::begin(&out, false).unwrap();
        fs::write(r.path().join("a.csv"), "x").unwrap();
        r.finish().unwrap();
        assert_eq!(fs::read_to_string(out.join("a.csv")).unwrap(), "x");
        // A second run is refused, or replaces the first with --overwrite.
        assert!(matches!(
            RunDir::begin(&out, false),
            Err(RunDirError::Exists { .. })
        ));
        let r = RunDir::begin(&out, true).unwrap();
        fs::write(r.path().join("b.csv"), "y").unwrap();
        r.finish().unwrap();
        assert!(!out.join("a.csv").exists(), "no stale file of the old run");
        assert!(out.join("b.csv").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn leftovers_of_killed_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be alive (above the kernel's pid_max).
        let stale = dir.path().join(".run.partial-4294967");
        fs::create_dir(&stale).unwrap();
        fs::write(dir.path().join("x.csv.partial"), "half").unwrap();
        assert_eq!(clean_partial_files(dir.path()).unwrap(), 1);
        let r = RunDir::begin(&dir.path().join("run"), false).unwrap();
        assert!(!stale.exists());
        drop(r);
    }
}
