//! The PyO3 adapter: the module `tokfree._rust`. It converts arguments, releases the GIL around
//! real work and maps `crate::Error` to the `tokfree.errors` classes. No tokenizer logic lives here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::bpe::{ranks, BpeModel};
use crate::error::{Error, ErrorKind};
use crate::pretokenize::{PreTokenizer, PRESETS};
use crate::tokenizer::{SpecialPolicy, Tokenizer};
use crate::train::{self, PretokenCounter, TrainerConfig};

/// Texts shorter than this are encoded without releasing the GIL: detaching and re-attaching the
/// thread state costs a few hundred ns, more than encoding a short sentence.
const DETACH_MIN_BYTES: usize = 2048;

/// `crate::Error` -> the matching `tokfree.errors` exception (imported lazily: errors are rare).
fn to_py_err(err: Error) -> PyErr {
    let class_name = match err.kind {
        ErrorKind::InvalidArgument => "TokfreeError",
        ErrorKind::InvalidRegex => "PatternError",
        ErrorKind::Io => "InputFileError",
        ErrorKind::Format => "TokenizerFileError",
        ErrorKind::SpecialToken => "SpecialTokenError",
        ErrorKind::UnknownId => "UnknownIdError",
        ErrorKind::EmptyCorpus => "EmptyCorpusError",
    };
    Python::attach(|py| {
        let class = py
            .import("tokfree.errors")
            .and_then(|module| module.getattr(class_name));
        match class {
            Ok(class) => match class.call1((err.message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            },
            Err(_) => PyRuntimeError::new_err(err.message),
        }
    })
}

fn invalid_argument(message: String) -> PyErr {
    to_py_err(Error::new(ErrorKind::InvalidArgument, message))
}

/// `"all"` or a sequence of special-token strings -> one flag per special token.
fn special_flags(spec: &Bound<'_, PyAny>, specials: &[(String, u32)], argument: &str) -> PyResult<Vec<bool>> {
    if let Ok(word) = spec.cast::<PyString>() {
        if word.to_str()? == "all" {
            return Ok(vec![true; specials.len()]);
        }
        return Err(invalid_argument(format!(
            "{argument}={:?} is not allowed: pass \"all\" or a collection of special-token strings (e.g. {{\"<|endoftext|>\"}})",
            word.to_str()?
        )));
    }
    let mut flags = vec![false; specials.len()];
    for item in spec.try_iter()? {
        let item = item?;
        let name: String = item.extract().map_err(|_| {
            invalid_argument(format!("{argument} must hold strings, got {}", item.repr().map(|r| r.to_string()).unwrap_or_default()))
        })?;
        match specials.iter().position(|(content, _)| *content == name) {
            Some(index) => flags[index] = true,
            None => {
                let known: Vec<&str> = specials.iter().map(|(c, _)| c.as_str()).collect();
                return Err(invalid_argument(format!(
                    "{argument} names {name:?}, which is not a special token of this tokenizer; its special tokens are {known:?}"
                )));
            }
        }
    }
    Ok(flags)
}

impl PyTokenizer {
    /// `encode_batch` on `helpers` pool threads plus this one. Python lists can only be built with
    /// the GIL, one at a time, so this thread builds them as texts finish (instead of all at the
    /// end, when the pool would sit idle) and encodes texts itself whenever none is waiting: the
    /// cores stay busy with either. Texts are claimed one at a time from a shared counter.
    fn encode_batch_shared<'py>(
        &self,
        py: Python<'py>,
        refs: &[&str],
        policy: &SpecialPolicy,
        pool: &rayon::ThreadPool,
        helpers: usize,
    ) -> PyResult<Vec<Bound<'py, PyList>>> {
        let tokenizer = &self.inner;
        let encode = |text: &str| tokenizer.encode(text, policy, false).map(|(ids, _)| ids);
        let next = AtomicUsize::new(0);
        let claim = || Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&index| index < refs.len());
        let (sender, receiver) = std::sync::mpsc::channel::<(usize, crate::Result<Vec<u32>>)>();
        let receiver = Mutex::new(receiver); // detach() needs Sync captures
        let receive = || receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut lists: Vec<Option<Bound<'py, PyList>>> = (0..refs.len()).map(|_| None).collect();
        let mut first_error: Option<(usize, Error)> = None;
        let mut finish = |index: usize, result: crate::Result<Vec<u32>>| -> PyResult<()> {
            match result {
                Ok(ids) => lists[index] = Some(self.id_list(py, &ids)?),
                // Report the first failing text's error, whatever order the texts finish in.
                Err(err) if first_error.as_ref().is_none_or(|(first, _)| index < *first) => first_error = Some((index, err)),
                Err(_) => {}
            }
            Ok(())
        };
        let outcome = pool.in_place_scope(|scope| -> PyResult<()> {
            for _ in 0..helpers {
                let sender = sender.clone();
                let (claim, encode) = (&claim, &encode);
                scope.spawn(move |_| {
                    while let Some(index) = claim() {
                        let _ = sender.send((index, encode(refs[index])));
                    }
                });
            }
            drop(sender); // only the helpers' clones are left: recv() fails if they all stop early
            let mut run = || -> PyResult<()> {
                for _ in 0..refs.len() {
                    // One text finished per round: converted if ready, else encoded here, else awaited.
                    let ready = receive().try_recv(); // its own statement: the guard must drop before recv()
                    if let Ok((index, result)) = ready {
                        finish(index, result)?;
                    } else if let Some(index) = claim() {
                        let text = refs[index];
                        let result = if text.len() >= DETACH_MIN_BYTES { py.detach(|| encode(text)) } else { encode(text) };
                        finish(index, result)?;
                    } else {
                        // Everything is claimed: wait, with the GIL released, for the helpers' last texts.
                        match py.detach(|| receive().recv()) {
                            Ok((index, result)) => finish(index, result)?,
                            Err(_) => return Err(PyRuntimeError::new_err("an encoding thread stopped before its text was done")),
                        }
                    }
                }
                Ok(())
            };
            let outcome = run();
            if outcome.is_err() {
                next.store(refs.len(), Ordering::Relaxed); // helpers stop claiming: the scope waits for them
            }
            outcome
        });
        outcome?;
        if let Some((_, err)) = first_error {
            return Err(to_py_err(err));
        }
        Ok(lists.into_iter().map(|list| list.expect("every text was encoded")).collect())
    }
}

/// The number of cores this process may use (rayon's own default, without starting rayon's
/// global pool).
fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The pools of `thread_pool`, and the id of the process whose threads they are.
struct Pools {
    pid: u32,
    by_size: HashMap<usize, Arc<rayon::ThreadPool>>,
}

/// A rayon pool per requested thread count, built once per process and reused (building one
/// costs ~50 µs).
///
/// A child made by `fork()` inherits the pools but not their threads: work sent to them would
/// never run, and `encode_batch` would wait for it forever. So the pools are tied to the process
/// id, and a child builds its own. The parent's pools are leaked in the child, never dropped:
/// dropping one signals threads that do not exist there.
fn thread_pool(num_threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(Pools { pid: std::process::id(), by_size: HashMap::new() }));
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        std::mem::forget(std::mem::take(&mut pools.by_size));
        pools.pid = pid;
    }
    let pools = &mut pools.by_size;
    if let Some(pool) = pools.get(&num_threads) {
        return Ok(pool.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(num_threads)
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("could not start {num_threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(num_threads, pool.clone());
    Ok(pool)
}

/// The byte spans of the pre-tokens of `text`.
#[pyfunction]
fn split_spans(py: Python<'_>, text: &str, pre_tokenizer: &str) -> PyResult<Vec<(usize, usize)>> {
    let splitter = PreTokenizer::new(pre_tokenizer).map_err(to_py_err)?;
    let mut spans = Vec::new();
    if text.len() >= DETACH_MIN_BYTES {
        py.detach(|| splitter.split_into(text, &mut spans)).map_err(to_py_err)?;
    } else {
        splitter.split_into(text, &mut spans).map_err(to_py_err)?;
    }
    Ok(spans)
}

/// Preset name -> the regex with the same semantics (None for "none").
#[pyfunction]
fn preset_patterns() -> PyResult<Vec<(String, Option<String>)>> {
    PRESETS
        .iter()
        .map(|name| {
            let splitter = PreTokenizer::new(name).map_err(to_py_err)?;
            Ok((name.to_string(), splitter.pattern().map(str::to_string)))
        })
        .collect()
}

/// tiktoken `(rank, bytes)` -> for every multi-byte token, in rank order, the `(left rank,
/// right rank)` merge that makes it (see `crate::bpe::ranks`).
#[pyfunction]
fn derive_merges(py: Python<'_>, tokens: Vec<(u32, Vec<u8>)>) -> PyResult<Vec<(u32, u32)>> {
    py.detach(|| ranks::derive_merges(&tokens)).map_err(to_py_err)
}

/// The compiled tokenizer. The Python class `tokfree.Tokenizer` wraps it.
#[pyclass(frozen, module = "tokfree._rust", name = "Tokenizer")]
struct PyTokenizer {
    inner: Arc<Tokenizer>,
    /// The policy for the default arguments (nothing allowed, everything disallowed).
    default_policy: SpecialPolicy,
    /// A Python int for every id, made on first use: a list of ids then costs an incref per
    /// token instead of an int allocation (~25 ns per token, a quarter of the encode).
    ints: PyOnceLock<Vec<Py<PyAny>>>,
}

impl PyTokenizer {
    fn wrap(inner: Tokenizer) -> Self {
        let k = inner.special_tokens().len();
        let default_policy = SpecialPolicy { allowed: vec![false; k], disallowed: vec![true; k] };
        PyTokenizer { inner: Arc::new(inner), default_policy, ints: PyOnceLock::new() }
    }

    /// `ids` as a Python list (every id is one of this tokenizer's).
    fn id_list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        let ints = self.ints.get_or_try_init(py, || {
            (0..=self.inner.max_id()).map(|id| Ok(id.into_pyobject(py)?.into_any().unbind())).collect::<PyResult<Vec<_>>>()
        })?;
        PyList::new(py, ids.iter().map(|&id| ints[id as usize].bind(py)))
    }

    fn policy(&self, allowed: Option<&Bound<'_, PyAny>>, disallowed: Option<&Bound<'_, PyAny>>) -> PyResult<SpecialPolicy> {
        if allowed.is_none() && disallowed.is_none() {
            return Ok(self.default_policy.clone());
        }
        let specials = self.inner.special_tokens();
        let allowed = match allowed {
            Some(spec) => special_flags(spec, specials, "allowed_special")?,
            None => self.default_policy.allowed.clone(),
        };
        let disallowed = match disallowed {
            Some(spec) => special_flags(spec, specials, "disallowed_special")?,
            None => self.default_policy.disallowed.clone(),
        };
        Ok(SpecialPolicy { allowed, disallowed })
    }
}

#[pymethods]
impl PyTokenizer {
    /// Builds a tokenizer from model tokens `(id, bytes)`, merges `(left id, right id)` in rank order
    /// and special tokens `(content, id)`; `merge_by_rank` selects tiktoken's merge rule.
    #[new]
    #[pyo3(signature = (pre_tokenizer, vocab, merges, special_tokens, ignore_merges=false, merge_by_rank=false))]
    fn new(
        py: Python<'_>,
        pre_tokenizer: &str,
        vocab: Vec<(u32, Vec<u8>)>,
        merges: Vec<(u32, u32)>,
        special_tokens: Vec<(String, u32)>,
        ignore_merges: bool,
        merge_by_rank: bool,
    ) -> PyResult<Self> {
        let splitter = PreTokenizer::new(pre_tokenizer).map_err(to_py_err)?;
        let inner = py
            .detach(|| {
                let model = BpeModel::new(vocab, merges, ignore_merges, merge_by_rank)?;
                Tokenizer::new(splitter, model, special_tokens)
            })
            .map_err(to_py_err)?;
        Ok(PyTokenizer::wrap(inner))
    }

    /// Ids of `text`, and their byte spans when `offsets` is true.
    #[pyo3(signature = (text, allowed_special=None, disallowed_special=None, offsets=false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed_special: Option<&Bound<'py, PyAny>>,
        disallowed_special: Option<&Bound<'py, PyAny>>,
        offsets: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let policy = self.policy(allowed_special, disallowed_special)?;
        let tokenizer = &self.inner;
        let (ids, spans) = if text.len() >= DETACH_MIN_BYTES {
            py.detach(|| tokenizer.encode(text, &policy, offsets))
        } else {
            tokenizer.encode(text, &policy, offsets)
        }
        .map_err(to_py_err)?;
        let ids = self.id_list(py, &ids)?;
        if offsets {
            Ok((ids, spans).into_pyobject(py)?.into_any())
        } else {
            Ok(ids.into_any())
        }
    }

    /// Ids of every text, encoded in parallel with the GIL released.
    #[pyo3(signature = (texts, allowed_special=None, disallowed_special=None, num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<pyo3::pybacked::PyBackedStr>,
        allowed_special: Option<&Bound<'_, PyAny>>,
        disallowed_special: Option<&Bound<'_, PyAny>>,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let policy = self.policy(allowed_special, disallowed_special)?;
        let tokenizer = &self.inner;
        let threads = match num_threads {
            Some(0) => return Err(invalid_argument("num_threads=0: pass a positive number of threads, or None for all cores".into())),
            Some(n) => n,
            None => all_cores(),
        };
        let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let lists = if threads == 1 || refs.len() < 2 {
            let results = py.detach(|| refs.iter().map(|text| tokenizer.encode(text, &policy, false).map(|(ids, _)| ids)).collect::<crate::Result<Vec<_>>>());
            results.map_err(to_py_err)?.iter().map(|ids| self.id_list(py, ids)).collect::<PyResult<Vec<_>>>()?
        } else {
            // This thread works too, so the pool needs one thread fewer.
            let helpers = threads - 1;
            let pool = thread_pool(helpers)?;
            self.encode_batch_shared(py, &refs, &policy, &pool, helpers)?
        };
        PyList::new(py, lists)
    }

    /// The bytes of `ids`.
    fn decode_bytes<'py>(&self, py: Python<'py>, ids: Vec<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let mut checked = Vec::with_capacity(ids.len());
        for (position, &id) in ids.iter().enumerate() {
            match u32::try_from(id) {
                Ok(id) => checked.push(id),
                Err(_) => {
                    return Err(to_py_err(Error::new(
                        ErrorKind::UnknownId,
                        format!(
                            "id {id} at position {position} is not in the vocabulary (valid ids are 0..{}); pass ids produced by this tokenizer",
                            self.inner.vocab_size().saturating_sub(1)
                        ),
                    )))
                }
            }
        }
        let bytes = self.inner.decode_bytes(&checked).map_err(to_py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn id_to_token<'py>(&self, py: Python<'py>, id: i64) -> Option<Bound<'py, PyBytes>> {
        let id = u32::try_from(id).ok()?;
        self.inner.id_to_token(id).map(|bytes| PyBytes::new(py, bytes))
    }

    fn token_to_id(&self, token: &[u8]) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The preset name, or the custom regex.
    #[getter]
    fn pre_tokenizer(&self) -> String {
        let splitter = self.inner.pre_tokenizer();
        match splitter.name() {
            "regex" => splitter.pattern().unwrap_or_default().to_string(),
            name => name.to_string(),
        }
    }

    #[getter]
    fn ignore_merges(&self) -> bool {
        self.inner.model().ignore_merges()
    }

    #[getter]
    fn merge_by_rank(&self) -> bool {
        self.inner.model().merge_by_rank()
    }

    /// Model tokens as (id, bytes), sorted by id.
    fn model_vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let model = self.inner.model();
        let mut entries: Vec<(u32, &[u8])> = Vec::with_capacity(model.len());
        // Ids may have holes (HF files), so scan the id range the model can hold.
        let mut id = 0u32;
        while entries.len() < model.len() {
            if let Some(bytes) = model.token_bytes(id) {
                entries.push((id, bytes));
            }
            id = match id.checked_add(1) {
                Some(next) => next,
                None => break,
            };
        }
        let items: Vec<(u32, Bound<'py, PyBytes>)> = entries.into_iter().map(|(id, b)| (id, PyBytes::new(py, b))).collect();
        PyList::new(py, items)
    }

    fn merges(&self) -> Vec<(u32, u32)> {
        self.inner.model().merges().to_vec()
    }

    fn special_tokens(&self) -> Vec<(String, u32)> {
        self.inner.special_tokens().to_vec()
    }
}

/// Streams a corpus into distinct pre-tokens with counts; `train` consumes it.
#[pyclass(frozen, module = "tokfree._rust", name = "PretokenCounter")]
struct PyPretokenCounter {
    pre_tokenizer: String,
    inner: Mutex<Option<PretokenCounter>>,
}

impl PyPretokenCounter {
    fn with_counter<T>(&self, f: impl FnOnce(&mut PretokenCounter) -> crate::Result<T>) -> PyResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_mut() {
            Some(counter) => f(counter).map_err(to_py_err),
            None => Err(invalid_argument("this counter was already consumed by train(); create a new one".into())),
        }
    }
}

#[pymethods]
impl PyPretokenCounter {
    #[new]
    fn new(pre_tokenizer: &str) -> PyResult<Self> {
        let splitter = PreTokenizer::new(pre_tokenizer).map_err(to_py_err)?;
        Ok(PyPretokenCounter {
            pre_tokenizer: pre_tokenizer.to_string(),
            inner: Mutex::new(Some(PretokenCounter::new(splitter))),
        })
    }

    /// Counts the pre-tokens of a batch of texts (each its own document), in parallel on
    /// `num_threads` threads (None: all cores; Dask tasks pass 1, their workers are the
    /// parallelism). Both `add_` methods count on this process's `thread_pool`, never rayon's
    /// global pool, so a child forked after the parent trained can train too.
    #[pyo3(signature = (texts, num_threads=None))]
    fn add_texts(&self, py: Python<'_>, texts: Vec<pyo3::pybacked::PyBackedStr>, num_threads: Option<usize>) -> PyResult<()> {
        if num_threads == Some(0) {
            return Err(invalid_argument("num_threads=0 is not allowed: pass None (all cores) or at least 1".into()));
        }
        let pool = thread_pool(num_threads.unwrap_or_else(all_cores))?;
        py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
            self.with_counter(|counter| {
                counter.set_pool(pool);
                counter.add_texts(&refs)
            })
        })
    }

    /// Streams one UTF-8 file.
    fn add_file(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let pool = thread_pool(all_cores())?;
        py.detach(|| {
            self.with_counter(|counter| {
                counter.set_pool(pool);
                counter.add_file(&path)
            })
        })
    }

    /// An independent copy (train and extend consume a counter; count once, train from copies).
    fn copy(&self) -> PyResult<PyPretokenCounter> {
        let counter = self.with_counter(|counter| Ok(counter.clone()))?;
        Ok(PyPretokenCounter { pre_tokenizer: self.pre_tokenizer.clone(), inner: Mutex::new(Some(counter)) })
    }

    fn distinct(&self) -> PyResult<usize> {
        self.with_counter(|counter| Ok(counter.distinct()))
    }

    /// The pre-tokenizer spec the counter splits with (a preset name or a custom regex).
    #[getter]
    fn pre_tokenizer(&self) -> String {
        self.pre_tokenizer.clone()
    }

    /// The counts as versioned, length-prefixed bytes, sorted (equal counts give equal bytes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| self.with_counter(|counter| counter.to_bytes()))?;
        Ok(PyBytes::new(py, &data))
    }

    /// The counter `to_bytes` wrote; malformed bytes raise TokfreeError (never a crash).
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, data: pyo3::pybacked::PyBackedBytes) -> PyResult<PyPretokenCounter> {
        let counter = py.detach(|| PretokenCounter::from_bytes(&data)).map_err(to_py_err)?;
        let spec = counter.pre_tokenizer_spec().to_string();
        Ok(PyPretokenCounter { pre_tokenizer: spec, inner: Mutex::new(Some(counter)) })
    }

    /// The export of the sum of `exports` (`to_bytes` outputs, same pre-tokenizer): what
    /// `from_bytes` + `merge` + `to_bytes` give, but merged as sorted lists, with no hash table.
    #[staticmethod]
    fn merge_exports<'py>(py: Python<'py>, exports: Vec<pyo3::pybacked::PyBackedBytes>) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| {
            let refs: Vec<&[u8]> = exports.iter().map(|e| &**e).collect();
            PretokenCounter::merge_exports(&refs)
        });
        Ok(PyBytes::new(py, &data.map_err(to_py_err)?))
    }

    /// Adds the counts of `other` (left unchanged) to this counter; both must use the same
    /// pre-tokenizer. Merging in any order gives the same counts.
    fn merge(&self, py: Python<'_>, other: &PyPretokenCounter) -> PyResult<()> {
        if std::ptr::eq(self, other) {
            let copy = self.with_counter(|counter| Ok(counter.clone()))?;
            return py.detach(|| self.with_counter(|counter| counter.add_counts(&copy)));
        }
        py.detach(|| {
            // Both locks in address order, so a.merge(b) and b.merge(a) on two threads cannot deadlock.
            fn lock(c: &PyPretokenCounter) -> std::sync::MutexGuard<'_, Option<PretokenCounter>> {
                c.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
            }
            let (mut mine, theirs) = if (self as *const Self) < (other as *const Self) {
                let mine = lock(self);
                (mine, lock(other))
            } else {
                let theirs = lock(other);
                (lock(self), theirs)
            };
            match (mine.as_mut(), theirs.as_ref()) {
                (Some(mine), Some(theirs)) => mine.add_counts(theirs).map_err(to_py_err),
                (None, _) => Err(invalid_argument("this counter was already consumed by train(); create a new one".into())),
                (_, None) => Err(invalid_argument("the counter to merge was already consumed by train(); merge before training".into())),
            }
        })
    }

    /// Pickles by `to_bytes` (so Dask and multiprocessing can ship a counter).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let data = slf.get().to_bytes(slf.py())?;
        Ok((slf.get_type().getattr("from_bytes")?, (data,)))
    }
}

/// Calls the Python `progress(done, total)` callback, if any, with the GIL; keeps its first error.
fn report_progress(progress: &Option<Py<PyAny>>, error: &mut Option<PyErr>, done: usize, total: usize) {
    if let (Some(callback), None) = (progress, &error) {
        if let Err(e) = Python::attach(|py| callback.call1(py, (done, total)).map(drop)) {
            *error = Some(e);
        }
    }
}

/// Runs the BPE merge loop on a counter's pre-tokens and returns the tokenizer.
/// `progress(done, total)` is called with the GIL held now and then (None: no callback).
#[pyfunction]
#[pyo3(signature = (counter, vocab_size, min_frequency, max_token_length, special_tokens, progress=None, max_token_chars=None))]
fn train_bpe(
    py: Python<'_>,
    counter: &PyPretokenCounter,
    vocab_size: usize,
    min_frequency: u64,
    max_token_length: Option<usize>,
    special_tokens: Vec<String>,
    progress: Option<Py<PyAny>>,
    max_token_chars: Option<usize>,
) -> PyResult<PyTokenizer> {
    let taken = counter.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let Some(counts) = taken else {
        return Err(invalid_argument("this counter was already consumed by train(); create a new one".into()));
    };
    let config = TrainerConfig { vocab_size, min_frequency, max_token_length, max_token_chars, special_tokens };
    let splitter = PreTokenizer::new(&counter.pre_tokenizer).map_err(to_py_err)?;
    let mut callback_error: Option<PyErr> = None;
    let trained = py.detach(|| {
        let mut report = |done: usize, total: usize| report_progress(&progress, &mut callback_error, done, total);
        let trained = train::train(counts, &config, &mut report)?;
        let model = BpeModel::new(trained.vocab, trained.merges, false, false)?;
        Tokenizer::new(splitter, model, trained.special_tokens)
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    Ok(PyTokenizer::wrap(trained.map_err(to_py_err)?))
}

/// Learns up to `new_tokens` merges on top of `tokenizer` from a counter of pre-tokens (see
/// `train::extend`): every base id, merge and special token is kept; new ids follow the largest
/// existing id. The result splits text with the counter's pre-tokenizer: the base's own (domain
/// adaptation; `same_pre_tokenizer` checks it) or another one (SuperBPE's second stage).
#[pyfunction]
#[pyo3(signature = (tokenizer, counter, new_tokens, min_frequency, max_token_length=None, max_token_chars=None, max_words=None, forbidden=Vec::new(), same_pre_tokenizer=true, progress=None))]
fn extend_bpe(
    py: Python<'_>,
    tokenizer: &PyTokenizer,
    counter: &PyPretokenCounter,
    new_tokens: usize,
    min_frequency: u64,
    max_token_length: Option<usize>,
    max_token_chars: Option<usize>,
    max_words: Option<usize>,
    forbidden: Vec<Vec<u8>>,
    same_pre_tokenizer: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyTokenizer> {
    let base = tokenizer.inner.clone();
    let splitter = PreTokenizer::new(&counter.pre_tokenizer).map_err(to_py_err)?;
    if same_pre_tokenizer && splitter.pattern() != base.pre_tokenizer().pattern() {
        return Err(invalid_argument(format!(
            "the counter splits with {:?} but the tokenizer with {:?}; count with the tokenizer's own pre_tokenizer",
            counter.pre_tokenizer,
            base.pre_tokenizer().pattern()
        )));
    }
    let taken = counter.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let Some(counts) = taken else {
        return Err(invalid_argument("this counter was already consumed by train(); create a new one".into()));
    };
    let rules = train::MergeRules { min_frequency, max_token_length, max_token_chars, max_words, forbidden };
    let mut callback_error: Option<PyErr> = None;
    let extended = py.detach(|| {
        let mut report = |done: usize, total: usize| report_progress(&progress, &mut callback_error, done, total);
        let model = base.model();
        let first_new_id = base.max_id().checked_add(1).ok_or_else(|| crate::Error::new(crate::ErrorKind::InvalidArgument, "no ids left above the vocabulary"))?;
        let extension = train::extend(model, first_new_id, counts, new_tokens, &rules, &mut report)?;
        let mut vocab: Vec<(u32, Vec<u8>)> = (0..=model.max_id()).filter_map(|id| model.token_bytes(id).map(|t| (id, t.to_vec()))).collect();
        vocab.extend(extension.new_tokens);
        let mut merges = model.merges().to_vec();
        merges.extend(extension.new_merges);
        let model = BpeModel::new(vocab, merges, model.ignore_merges(), model.merge_by_rank())?;
        Tokenizer::new(splitter, model, base.special_tokens().to_vec())
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    Ok(PyTokenizer::wrap(extended.map_err(to_py_err)?))
}

/// `tokfree.bytelevel`: for each candidate id, whether `window_ids + [id]` is a prefix of the
/// encoding of some text, given the context bytes `window` (see `crate::bytelevel::canonical`).
#[pyfunction]
fn bytelevel_valid_mask(
    py: Python<'_>,
    tokenizer: &Bound<'_, PyTokenizer>,
    window: Vec<u8>,
    window_ids: Vec<u32>,
    candidates: Vec<u32>,
    probes: Vec<Vec<u8>>,
) -> Vec<bool> {
    let inner = tokenizer.get().inner.clone();
    py.detach(|| crate::bytelevel::canonical::valid_mask(&inner, &window, &window_ids, &candidates, &probes))
}

/// `tokfree.words`: the word boundaries of `text` (see `crate::words`).
#[pyfunction]
#[pyo3(signature = (text, max_bytes=None))]
fn word_boundaries(py: Python<'_>, text: &str, max_bytes: Option<usize>) -> PyResult<Vec<usize>> {
    if text.len() >= DETACH_MIN_BYTES {
        py.detach(|| crate::words::word_boundaries(text, max_bytes)).map_err(to_py_err)
    } else {
        crate::words::word_boundaries(text, max_bytes).map_err(to_py_err)
    }
}

/// The word boundaries of every text, in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (texts, max_bytes=None, num_threads=None))]
fn word_boundaries_batch(
    py: Python<'_>,
    texts: Vec<pyo3::pybacked::PyBackedStr>,
    max_bytes: Option<usize>,
    num_threads: Option<usize>,
) -> PyResult<Vec<Vec<usize>>> {
    use rayon::prelude::*;
    let split = |text: &pyo3::pybacked::PyBackedStr| crate::words::word_boundaries(text, max_bytes);
    let result = match num_threads {
        Some(0) => return Err(invalid_argument("num_threads=0: pass a positive number of threads, or None for all cores".into())),
        Some(1) => py.detach(|| texts.iter().map(split).collect::<crate::Result<Vec<_>>>()),
        Some(n) => {
            let pool = thread_pool(n)?;
            py.detach(|| pool.install(|| texts.par_iter().map(split).collect::<crate::Result<Vec<_>>>()))
        }
        None => {
            // Not rayon's global pool, which a forked child cannot use (see `thread_pool`).
            let pool = thread_pool(all_cores())?;
            py.detach(|| pool.install(|| texts.par_iter().map(split).collect::<crate::Result<Vec<_>>>()))
        }
    };
    result.map_err(to_py_err)
}

/// `tokfree.io.stream`: the last position in `data[..end]` (> 0) where text may be cut without
/// changing `tokenizer`'s pre-tokens (see `train::last_text_cut`), or None.
#[pyfunction]
#[pyo3(signature = (tokenizer, data, end=None))]
fn last_safe_cut(tokenizer: &PyTokenizer, data: &[u8], end: Option<usize>) -> Option<usize> {
    let end = end.map_or(data.len(), |end| end.min(data.len()));
    train::last_text_cut(tokenizer.inner.pre_tokenizer(), &data[..end])
}

/// The hybrid tokenizer's segmenter (`crate::morph`): root and suffix tries.
#[pyclass(name = "MorphLexicon", module = "tokfree._rust", frozen)]
struct PyMorphLexicon {
    inner: crate::morph::MorphLexicon,
}

#[pymethods]
impl PyMorphLexicon {
    #[new]
    fn new(roots: Vec<(String, u32)>, suffixes: Vec<(String, u32)>) -> Self {
        PyMorphLexicon { inner: crate::morph::MorphLexicon::new(&roots, &suffixes) }
    }

    /// (kind 0 root / 1 suffix / 2 rest, start char, end char, class index or -1) per piece.
    fn segment(&self, word: &str) -> Vec<(u8, usize, usize, i64)> {
        use crate::morph::Kind;
        self.inner
            .segment(word)
            .into_iter()
            .map(|p| {
                let kind = match p.kind {
                    Kind::Root => 0,
                    Kind::Suffix => 1,
                    Kind::Rest => 2,
                };
                (kind, p.start, p.end, p.class.map_or(-1, i64::from))
            })
            .collect()
    }
}

#[pymodule(name = "_rust", gil_used = false)]
fn tokfree_rust_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    m.add_class::<PyPretokenCounter>()?;
    m.add_class::<PyMorphLexicon>()?;
    m.add_function(wrap_pyfunction!(split_spans, m)?)?;
    m.add_function(wrap_pyfunction!(preset_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(train_bpe, m)?)?;
    m.add_function(wrap_pyfunction!(extend_bpe, m)?)?;
    m.add_function(wrap_pyfunction!(derive_merges, m)?)?;
    m.add_function(wrap_pyfunction!(bytelevel_valid_mask, m)?)?;
    m.add_function(wrap_pyfunction!(word_boundaries, m)?)?;
    m.add_function(wrap_pyfunction!(word_boundaries_batch, m)?)?;
    m.add_function(wrap_pyfunction!(last_safe_cut, m)?)?;
    Ok(())
}
