//! Byte-level BPE training.
//!
//! Two phases:
//! 1. [`PretokenCounter`] splits texts (or streamed files) into pre-tokens in parallel and keeps
//!    only the distinct pre-tokens with 64-bit counts, so memory follows the vocabulary of the
//!    corpus, not its size.
//! 2. [`train`] runs the merge loop of the contract ("Training") incrementally: words stored
//!    flat, pair counts updated by deltas, a pair -> words index, and a lazy priority queue whose
//!    order is exactly the contract's (highest count, then smallest `(bytes(a), bytes(b))`).
//!    See `learn.rs` for the data structures.

mod count;
mod heap;
mod learn;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::pretokenize::PreTokenizer;

use count::{CutRule, Shard, SHARDS};

/// Texts longer than this are cut (at exact piece boundaries, presets only) so that one large
/// text still uses every thread.
const SEGMENT_BYTES: usize = 1 << 20;
/// Files are read in chunks of about this size (grown when a chunk holds no cut position).
const FILE_CHUNK_BYTES: usize = 16 << 20;

/// The last position in `bytes` (> 0) where a text may be cut without changing its pre-tokens,
/// by the exact rule of `pre` (`CutRule::for_texts`): None when `bytes` has no such position or
/// `pre` has no known one (a custom regex, "none", "superword"). The streaming file encoder
/// (`tokfree.io.stream`) cuts files here.
pub fn last_text_cut(pre: &PreTokenizer, bytes: &[u8]) -> Option<usize> {
    count::last_cut(bytes, 0, CutRule::for_texts(pre))
}

/// Streams text in and keeps only the distinct pre-tokens with their counts.
#[derive(Clone)]
pub struct PretokenCounter {
    pre_tokenizer: PreTokenizer,
    shards: Vec<Shard>,
    pieces: u64,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl PretokenCounter {
    pub fn new(pre_tokenizer: PreTokenizer) -> PretokenCounter {
        PretokenCounter {
            pre_tokenizer,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            pieces: 0,
            pool: None,
        }
    }

    /// Uses `n` threads for counting (0 = rayon's global pool, the default).
    pub fn set_num_threads(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            self.pool = None;
            return Ok(());
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| {
            Error::new(ErrorKind::InvalidArgument, format!("could not start {n} counting threads ({e}); use fewer threads"))
        })?;
        self.pool = Some(Arc::new(pool));
        Ok(())
    }

    /// Counts on `pool` (a caller-owned pool, e.g. one rebuilt after `fork()`, where rayon's
    /// global pool has no threads).
    pub fn set_pool(&mut self, pool: Arc<rayon::ThreadPool>) {
        self.pool = Some(pool);
    }

    /// Number of threads counting uses.
    pub fn num_threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    /// The pre-tokenizer this counter splits with.
    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre_tokenizer
    }

    fn count_segments(&mut self, segs: &[&str]) -> Result<()> {
        let threads = self.num_threads();
        let pre = &self.pre_tokenizer;
        let shards = &mut self.shards;
        let pieces = match &self.pool {
            Some(pool) => pool.install(|| count::count_into(pre, segs, threads, shards))?,
            None => count::count_into(pre, segs, threads, shards)?,
        };
        self.pieces = self.pieces.saturating_add(pieces);
        Ok(())
    }

    /// Counts the pre-tokens of each text (each text is its own document), in parallel.
    ///
    /// A text longer than 1 MiB is split into segments at positions where the preset's pieces
    /// are known to end (a '\n' followed by an ASCII letter or digit), so the counts are exactly
    /// those of the whole text; texts with a custom regex or "none" are never cut.
    pub fn add_texts(&mut self, texts: &[&str]) -> Result<()> {
        let rule = CutRule::for_texts(&self.pre_tokenizer);
        let mut segs = Vec::with_capacity(texts.len());
        for text in texts {
            count::segments(text, SEGMENT_BYTES, rule, &mut segs);
        }
        self.count_segments(&segs)
    }

    /// Streams a UTF-8 file in bounded chunks; invalid UTF-8 is an error naming file and byte offset.
    ///
    /// The file is one document. It is read in chunks of about 16 MiB, cut only where a '\n' is
    /// followed by an ASCII letter or digit (right after that newline for gpt4/o200k/llama3, right
    /// before it for gpt2/whitespace): for every preset these are piece boundaries that do not
    /// depend on the rest of the text, so the counts equal those of the whole file. For a custom
    /// regex and for "none", a file larger than one chunk is also cut at such positions (pieces
    /// never span them), which bounds memory. A chunk with no such position grows until one is
    /// found (or the file ends), so a file without any is held whole.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        self.add_file_chunked(path, FILE_CHUNK_BYTES)
    }

    /// `add_file` with a given chunk size (tests use tiny chunks).
    fn add_file_chunked(&mut self, path: &Path, chunk_bytes: usize) -> Result<()> {
        let chunk_bytes = chunk_bytes.max(2);
        let mut file = std::fs::File::open(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot open {}: {e}; check that the path exists and is readable", path.display()))
        })?;
        let rule = CutRule::for_files(&self.pre_tokenizer);
        let read_error = |e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot read {}: {e}; check that the path is a readable file", path.display()))
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut offset: u64 = 0; // file offset of buf[0]
        let mut searched = 0usize; // buf[..searched] holds no cut newline
        let mut eof = false;
        loop {
            // Top up to one chunk past what was already searched.
            let want = (searched + chunk_bytes).saturating_sub(buf.len());
            if !eof && want > 0 {
                let got = (&mut file).take(want as u64).read_to_end(&mut buf).map_err(read_error)?;
                eof = got < want;
            }
            if buf.is_empty() {
                break;
            }
            let cut = if eof {
                buf.len()
            } else {
                match count::last_cut(&buf, searched, rule) {
                    Some(cut) => cut,
                    None => {
                        searched = buf.len().saturating_sub(1);
                        continue;
                    }
                }
            };
            let text = std::str::from_utf8(&buf[..cut]).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "{} is not valid UTF-8 at byte offset {}; tokfree trains on UTF-8 text: convert the file \
                         (e.g. `iconv -f LATIN1 -t UTF-8`) or remove the invalid bytes",
                        path.display(),
                        offset + e.valid_up_to() as u64
                    ),
                )
            })?;
            let mut segs = Vec::new();
            count::segments(text, SEGMENT_BYTES, rule, &mut segs);
            self.count_segments(&segs)?;
            buf.drain(..cut);
            offset += cut as u64;
            searched = 0;
            if eof && buf.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Adds `count` occurrences of one pre-token (e.g. from counts computed elsewhere).
    pub fn add_pretoken(&mut self, piece: &str, count: u64) {
        if piece.is_empty() || count == 0 {
            return;
        }
        count::bump(&mut self.shards[count::shard_of(piece.as_bytes())], piece.as_bytes(), count);
        self.pieces = self.pieces.saturating_add(count);
    }

    /// Adds the counts of `other` (e.g. a counter filled on another thread) to this one.
    pub fn merge(&mut self, other: PretokenCounter) {
        for shard in other.shards {
            for (k, v) in shard {
                count::bump(&mut self.shards[count::shard_of(&k)], &k, v);
            }
        }
        self.pieces = self.pieces.saturating_add(other.pieces);
    }

    /// Number of distinct pre-tokens seen so far.
    pub fn distinct(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// Total number of pre-tokens seen so far (with repetitions).
    pub fn total(&self) -> u64 {
        self.pieces
    }

    /// The distinct pre-tokens (UTF-8 bytes) and their counts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.shards.iter().flat_map(|s| s.iter().map(|(k, &v)| (&k[..], v)))
    }
}

pub struct TrainerConfig {
    /// Total vocabulary size: special tokens + 256 bytes + merges.
    pub vocab_size: usize,
    /// A pair is merged only if it occurs at least this often.
    pub min_frequency: u64,
    /// Longest token allowed, in bytes (None = no limit).
    pub max_token_length: Option<usize>,
    /// Longest token allowed, in characters (None = no limit; see `learn::chars_touched`).
    pub max_token_chars: Option<usize>,
    /// Special tokens, given ids 0..k in this order.
    pub special_tokens: Vec<String>,
}

/// The result: ids 0..k are the special tokens, k..k+256 the bytes 0..=255, then one id per new merged token.
pub struct TrainedBpe {
    pub special_tokens: Vec<(String, u32)>,
    /// (id, bytes) of every model token (bytes and merged tokens).
    pub vocab: Vec<(u32, Vec<u8>)>,
    /// (left id, right id) in rank order (a merge whose bytes already exist reuses that id).
    pub merges: Vec<(u32, u32)>,
}

/// Checks the config against the contract; returns the number of new tokens to learn.
fn check_config(config: &TrainerConfig) -> Result<usize> {
    let k = config.special_tokens.len();
    for (i, token) in config.special_tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("special token #{i} is empty; give each special token some text")));
        }
        if config.special_tokens[..i].contains(token) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("special token {token:?} is listed twice; list each special token once"),
            ));
        }
    }
    let base = k + 256;
    if config.vocab_size < base {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "vocab_size={} is too small: it must be at least 256 byte tokens + {k} special tokens = {base}",
                config.vocab_size
            ),
        ));
    }
    if config.vocab_size > u32::MAX as usize {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("vocab_size={} does not fit token ids (u32); use at most {}", config.vocab_size, u32::MAX),
        ));
    }
    Ok(config.vocab_size - base)
}

/// Runs the merge loop. `progress(done, total)` is called now and then with the number of merges.
///
/// `done` counts new tokens (about every 1% of `total` = vocab_size - specials - 256), plus one
/// call at the start and one at the end (early if no pair qualifies any more).
pub fn train(counter: PretokenCounter, config: &TrainerConfig, progress: &mut dyn FnMut(usize, usize)) -> Result<TrainedBpe> {
    let max_new_tokens = check_config(config)?;
    if counter.distinct() == 0 {
        return Err(Error::new(
            ErrorKind::EmptyCorpus,
            "the corpus has no pre-tokens (no text, or only empty texts); give the trainer some non-empty text",
        ));
    }
    let params = learn::Params {
        max_new_tokens,
        min_count: config.min_frequency.min(i64::MAX as u64) as i64,
        max_token_length: config.max_token_length,
        max_token_chars: config.max_token_chars,
        long_word: learn::LONG_WORD,
        new_tokens_only: false,
        max_words: None,
        forbidden: Vec::new(),
    };
    let words = counter.shards.into_iter().flat_map(|shard| shard.into_iter());
    let learned = learn::learn(words, &params, progress)?;
    Ok(assemble(learned, &config.special_tokens))
}

/// Internal ids -> contract ids (specials first).
fn assemble(learned: learn::Learned, special_tokens: &[String]) -> TrainedBpe {
    let k = special_tokens.len() as u32;
    TrainedBpe {
        special_tokens: special_tokens.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect(),
        vocab: learned.tokens.into_iter().enumerate().map(|(i, bytes)| (k + i as u32, bytes)).collect(),
        merges: learned.merges.into_iter().map(|(a, b)| (a + k, b + k)).collect(),
    }
}

/// What a merge made by [`extend`] may be.
#[derive(Clone, Debug, Default)]
pub struct MergeRules {
    /// A pair is merged only if it occurs at least this often (0 and 1 mean once).
    pub min_frequency: u64,
    /// Longest token in bytes.
    pub max_token_length: Option<usize>,
    /// Longest token in characters (see `learn::chars_touched`).
    pub max_token_chars: Option<usize>,
    /// Longest token in words (non-empty runs between spaces): SuperBPE's limit of 4.
    pub max_words: Option<usize>,
    /// Byte strings no token may contain (SuperBPE forbids b": ").
    pub forbidden: Vec<Vec<u8>>,
}

/// The result of [`extend`]: the tokens and merges to append to the base model.
pub struct Extension {
    /// (id, bytes) of every new token, ids increasing from just above every base and special id.
    pub new_tokens: Vec<(u32, Vec<u8>)>,
    /// New merges as (left id, right id), ranked after every base merge.
    pub new_merges: Vec<(u32, u32)>,
}

/// Learns up to `new_tokens` more merges on top of `base`: each counted pre-token is first encoded
/// by `base`, then the merge loop continues from those ids. The counter may split text differently
/// from the base (SuperBPE's second stage counts whole lines): the base merges apply to its pieces
/// by rank, as the extended tokenizer's encoder will. Only pairs whose bytes are not yet a
/// token qualify, so every base id, base token and base merge keeps its meaning and the base
/// encoding of any text is the first stage of the extended encoding.
pub fn extend(
    base: &crate::bpe::BpeModel,
    first_new_id: u32,
    counter: PretokenCounter,
    new_tokens: usize,
    rules: &MergeRules,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Extension> {
    if counter.distinct() == 0 {
        return Err(Error::new(
            ErrorKind::EmptyCorpus,
            "the corpus has no pre-tokens (no text, or only empty texts); give the trainer some non-empty text",
        ));
    }
    if (first_new_id as usize).saturating_add(new_tokens) > u32::MAX as usize {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("{new_tokens} new tokens after id {first_new_id} do not fit u32 ids")));
    }
    // Internal ids: 0..=255 the single bytes, then the other base tokens in id order.
    let mut internal_to_base: Vec<u32> = (0..=255u8)
        .map(|b| base.token_id(&[b]).ok_or_else(|| Error::new(ErrorKind::Format, format!("the base vocabulary has no token for byte {b}"))))
        .collect::<Result<_>>()?;
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for id in 0..=base.max_id() {
        if let Some(bytes) = base.token_bytes(id) {
            if bytes.len() > 1 {
                internal_to_base.push(id);
                tokens.push(bytes.to_vec());
            }
        }
    }
    let mut base_to_internal = vec![u32::MAX; base.max_id() as usize + 1];
    for (internal, &id) in internal_to_base.iter().enumerate() {
        base_to_internal[id as usize] = internal as u32;
    }
    let initial = tokens.len() as u32;
    let mut ids = Vec::new();
    let words = counter.shards.into_iter().flat_map(|shard| shard.into_iter()).map(|(word, count)| {
        ids.clear();
        base.encode_piece(&word, &mut ids);
        (ids.iter().map(|&id| base_to_internal[id as usize]).collect::<Vec<u32>>(), count)
    });
    let params = learn::Params {
        max_new_tokens: new_tokens,
        min_count: rules.min_frequency.min(i64::MAX as u64) as i64,
        max_token_length: rules.max_token_length,
        max_token_chars: rules.max_token_chars,
        long_word: learn::LONG_WORD,
        new_tokens_only: true,
        max_words: rules.max_words,
        forbidden: rules.forbidden.clone(),
    };
    let learned = learn::learn_more(tokens, words, &params, progress)?;
    let to_id = |internal: u32| if internal < initial { internal_to_base[internal as usize] } else { first_new_id + (internal - initial) };
    Ok(Extension {
        new_tokens: learned.tokens.into_iter().enumerate().skip(initial as usize).map(|(i, bytes)| (to_id(i as u32), bytes)).collect(),
        new_merges: learned.merges.into_iter().map(|(a, b)| (to_id(a), to_id(b))).collect(),
    })
}
