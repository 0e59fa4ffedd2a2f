//! Reading directories ahead of the walk's consumer, on a pool of threads, in walk order,
//! within a bound.
//!
//! # How
//!
//! Each directory to read is a *job* holding its key prefix (`a/b/`), its path and the sending
//! half of a one-shot channel (`sync_channel(1)`, one message ever). Jobs wait in a priority
//! queue ordered by key prefix, and the byte order of directory key prefixes is exactly the
//! order in which the depth-first walk enters them (the order argument in the module above,
//! applied to `name/` sort keys). A worker takes the smallest job, reads and sorts the
//! directory (`listing`), queues one job per subdirectory, and sends the listing. The
//! listing's subdirectories hold the receiving halves, so the consumer, descending into a
//! subdirectory, receives exactly that directory's listing — usually already there.
//!
//! So workers discover the tree themselves and read the next directories in walk order while
//! the consumer is still busy with earlier ones: a cold tree is read `threads` syscalls at a
//! time, not one.
//!
//! # Memory bound
//!
//! A worker starts a job only while fewer than [`PREFETCH_DIRS`] listings are *held* (being
//! read, or read and not yet taken by the consumer) and they hold fewer than
//! [`PREFETCH_ENTRIES`] entries. The one exception is the directory the consumer is waiting
//! for (below), which is at most one more. So at any time the walk holds:
//!
//! - at most `PREFETCH_DIRS + 1` listings ahead of the consumer, with fewer than
//!   `PREFETCH_ENTRIES` entries plus what the at most `threads` reads in flight add (one
//!   directory each: a directory is sorted, so it is read whole);
//! - queued jobs: one per subdirectory listed but not yet read, i.e. at most one per entry of
//!   the listings held ahead or on the consumer's stack;
//! - the consumer's stack: the unvisited rest of each directory on the current path, as any
//!   depth-first sorted walk holds.
//!
//! None of this grows with the size of the tree, only with its widest directories and its
//! depth.
//!
//! # Why it cannot deadlock
//!
//! Workers wait only on the condition variable, never on a channel: each one-shot channel
//! receives one message and has room for it. The consumer waits only on the one-shot of the
//! directory `D` it is entering, after publishing `D` as its *demand*. `D`'s job was queued
//! when `D`'s parent was read, which happened before the consumer could see `D`. If it is no
//! longer queued, a worker is reading it and will send. If it is queued, it is the smallest
//! queued job: every directory before `D` in walk order has already been entered, hence
//! taken. A worker may always start a job at or before the demand, whatever the bound, and the
//! demand is published under the lock with a notification; so the next worker to look (an
//! idle one at once, a busy one when its read ends) starts `D`. The bound thus never blocks
//! the directory the consumer needs, only reading further ahead.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::listing::{self, Ancestors, DirId, Found};
use super::{LocalEntry, Op, SkipReason, WalkError};

/// Most directories read ahead of the walk's consumer. Chosen: enough to keep a few dozen
/// threads busy on a cold tree or a network filesystem, while 256 listings of a typical
/// directory (tens of entries, about 200 bytes each) stay within a few MiB.
pub const PREFETCH_DIRS: usize = 256;

/// Most entries in the listings read ahead, checked before each read starts (so exceeded by
/// at most the directories being read). Chosen: 256 Ki entries of about 200 bytes (key, path,
/// metadata) is about 50 MiB, the same order as the transfer memory budget's default.
pub const PREFETCH_ENTRIES: usize = 256 * 1024;

/// The read-ahead bounds; tests shrink them to force the consumer's demand path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Listings held ahead: [`PREFETCH_DIRS`].
    pub(super) dirs: usize,
    /// Entries in those listings: [`PREFETCH_ENTRIES`].
    pub(super) entries: usize,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        dirs: PREFETCH_DIRS,
        entries: PREFETCH_ENTRIES,
    };
}

/// A directory's sorted entries, or why it could not be read.
type Listed = Result<Vec<Child>, WalkError>;

/// One entry of a listing as the consumer sees it.
#[derive(Debug)]
pub(super) enum Child {
    File(LocalEntry),
    Dir(PendingDir),
    Skipped { path: PathBuf, reason: SkipReason },
    Error(WalkError),
}

/// A subdirectory whose listing is (or will be) read by a worker.
#[derive(Debug)]
pub(super) struct PendingDir {
    key: String,
    path: PathBuf,
    listing: Receiver<Listed>,
}

/// A directory to read.
struct Job {
    /// Its key prefix: `""` for the root, else ending in `/`. Orders the queue.
    key: String,
    path: PathBuf,
    /// The directories from the root to this one; `None` for the root, whose identity the
    /// worker reads first.
    ancestors: Option<Arc<Ancestors>>,
    listing: SyncSender<Listed>,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Job {}

impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Job {
    /// Byte order of the key prefix, which is walk order.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.key.as_bytes().cmp(other.key.as_bytes())
    }
}

/// What the workers and the consumer share, under one lock.
struct State {
    /// Directories to read, smallest key first.
    queue: BinaryHeap<Reverse<Job>>,
    /// Listings being read, or read and not yet taken by the consumer.
    held_dirs: usize,
    /// Entries in the listings read and not yet taken.
    held_entries: usize,
    /// The key prefix of the directory the consumer is waiting for.
    demand: Option<String>,
    /// Set when the walk is done or dropped: workers exit.
    stopping: bool,
    /// Workers still running; the last one out drops the queue so a waiting consumer wakes.
    live_workers: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a worker might be able to start a job or should exit.
    work: Condvar,
    /// `stopping`, readable without the lock by a worker in the middle of a directory.
    stop: AtomicBool,
    limits: Limits,
    follow_symlinks: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked mid-update leaves counters at worst off by one directory;
        // the walk goes on rather than panicking the consumer too.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The worker threads of one walk.
pub(super) struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` workers (at least one) on `root` and returns the pool with the root
    /// as the consumer's first child.
    pub(super) fn start(
        root: &Path,
        threads: usize,
        follow_symlinks: bool,
        limits: Limits,
    ) -> (Pool, Child) {
        let threads = threads.max(1);
        let (tx, rx) = sync_channel(1);
        let root_job = Job {
            key: String::new(),
            path: root.to_path_buf(),
            ancestors: None,
            listing: tx,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: BinaryHeap::from([Reverse(root_job)]),
                held_dirs: 0,
                held_entries: 0,
                demand: None,
                stopping: false,
                live_workers: threads,
            }),
            work: Condvar::new(),
            stop: AtomicBool::new(false),
            limits,
            follow_symlinks,
        });
        let mut workers = Vec::with_capacity(threads);
        let mut spawn_error = None;
        for i in 0..threads {
            let worker = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("haul-walk-{i}"))
                .spawn(move || work(&worker));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    count_worker_out(&shared);
                    spawn_error = Some(e);
                }
            }
        }
        let pool = Pool { shared, workers };
        let root_child = match spawn_error {
            Some(e) if pool.workers.is_empty() => {
                Child::Error(WalkError::at(Op::StartThreads, root, e))
            }
            _ => Child::Dir(PendingDir {
                key: String::new(),
                path: root.to_path_buf(),
                listing: rx,
            }),
        };
        (pool, root_child)
    }

    /// The listing of `dir`, waiting for it if it is not read yet.
    pub(super) fn take(&self, dir: PendingDir) -> Listed {
        let received = match dir.listing.try_recv() {
            Ok(listed) => Some(listed),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                self.shared.lock().demand = Some(dir.key.clone());
                self.shared.work.notify_all();
                dir.listing.recv().ok()
            }
        };
        let entries = match &received {
            Some(Ok(children)) => children.len(),
            Some(Err(_)) | None => 0,
        };
        {
            let mut state = self.shared.lock();
            state.demand = None;
            state.held_dirs = state.held_dirs.saturating_sub(1);
            state.held_entries = state.held_entries.saturating_sub(entries);
        }
        // Room for reading further ahead.
        self.shared.work.notify_all();
        received.unwrap_or_else(|| {
            let gone = io::Error::other("the worker thread ended without an answer");
            Err(WalkError::at(Op::WorkerLost, dir.path, gone))
        })
    }

    /// Listings and entries held ahead of the consumer now.
    #[cfg(test)]
    pub(super) fn held(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (state.held_dirs, state.held_entries)
    }

    /// Stops the workers and waits for them; each finishes at most the directory it is
    /// reading, checking `stop` between entries. Idempotent.
    pub(super) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.lock().stopping = true;
        self.shared.work.notify_all();
        for handle in self.workers.drain(..) {
            // A worker that panicked has already dropped its job (the consumer got an error).
            let _ = handle.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts a worker out when it ends, normally or by a panic. The last one out drops the queued
/// jobs, and with them their senders, so a consumer waiting on one wakes with an error instead
/// of waiting forever.
struct WorkerExit<'a>(&'a Shared);

impl Drop for WorkerExit<'_> {
    fn drop(&mut self) {
        count_worker_out(self.0);
    }
}

fn count_worker_out(shared: &Shared) {
    let mut state = shared.lock();
    state.live_workers = state.live_workers.saturating_sub(1);
    if state.live_workers == 0 {
        state.queue.clear();
    }
}

fn work(shared: &Shared) {
    let _exit = WorkerExit(shared);
    while let Some(job) = next_job(shared) {
        let (listed, jobs) = read(shared, &job);
        let entries = listed.as_ref().map_or(0, Vec::len);
        {
            let mut state = shared.lock();
            state.held_entries += entries;
            state.queue.extend(jobs.into_iter().map(Reverse));
        }
        shared.work.notify_all();
        // The subdirectories were queued first: the consumer may demand one as soon as it
        // has this listing. A send fails only when the walk was dropped; nothing to do then.
        let _ = job.listing.send(listed);
    }
}

/// Waits for a job this worker may start: the smallest queued, if the bound allows or the
/// consumer is waiting for it. `None` when the walk stops.
fn next_job(shared: &Shared) -> Option<Job> {
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return None;
        }
        if let Some(Reverse(next)) = state.queue.peek() {
            let within_bound =
                state.held_dirs < shared.limits.dirs && state.held_entries < shared.limits.entries;
            let demanded = state
                .demand
                .as_deref()
                .is_some_and(|d| next.key.as_bytes() <= d.as_bytes());
            if (within_bound || demanded)
                && let Some(Reverse(job)) = state.queue.pop()
            {
                state.held_dirs += 1;
                return Some(job);
            }
        }
        state = shared
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Reads one directory into the consumer's listing and the jobs for its subdirectories.
fn read(shared: &Shared, job: &Job) -> (Listed, Vec<Job>) {
    let ancestors = match &job.ancestors {
        Some(a) => Arc::clone(a),
        None => match listing::stat(&job.path) {
            Ok(md) => Ancestors::root(DirId::of(&md)),
            Err(e) => return (Err(WalkError::at(Op::ReadDir, &job.path, e)), Vec::new()),
        },
    };
    let found = match listing::list(
        &job.path,
        &job.key,
        &ancestors,
        shared.follow_symlinks,
        &shared.stop,
    ) {
        Ok(found) => found,
        // A subdirectory removed since its parent was listed is gone like a vanished file:
        // its keys are no longer in the tree. (A missing root stays an error.)
        Err(e) if job.ancestors.is_some() && e.kind() == io::ErrorKind::NotFound => {
            let gone = Child::Skipped {
                path: job.path.clone(),
                reason: SkipReason::Vanished,
            };
            return (Ok(vec![gone]), Vec::new());
        }
        Err(e) => return (Err(e), Vec::new()),
    };
    let mut jobs = Vec::new();
    let children = found
        .into_iter()
        .map(|f| match f {
            Found::File(entry) => Child::File(entry),
            Found::Skipped { path, reason } => Child::Skipped { path, reason },
            Found::Error(e) => Child::Error(e),
            Found::Dir {
                key,
                path,
                ancestors,
            } => {
                let (tx, rx) = sync_channel(1);
                jobs.push(Job {
                    key: key.clone(),
                    path: path.clone(),
                    ancestors: Some(ancestors),
                    listing: tx,
                });
                Child::Dir(PendingDir {
                    key,
                    path,
                    listing: rx,
                })
            }
        })
        .collect();
    (Ok(children), jobs)
}
