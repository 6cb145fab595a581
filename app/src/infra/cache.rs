//! Small, bounded, short-lived caches for the hot reads: API keys by hash,
//! connections with their **sealed** tokens, and provider configurations
//! ready for the refresh worker's calls.
//!
//! The trade-off, written down: a cached entry lives at most `ttl`
//! (`OAUTH_VAULT_API_CACHE_TTL_MS`, default 2 s). The process that changes a
//! connection or revokes a key drops the entry at once; *other* server
//! processes may go on using what they read for up to `ttl` — a revoked key
//! or connection keeps working there for at most that long, a disabled
//! provider configuration likewise. Tokens stay sealed in the cache: a
//! plaintext token exists only while one request is answered (an AES-GCM
//! open costs about a microsecond), so the cache holds nothing a memory
//! dump would not also find in the database. The one plaintext secret held
//! is a provider configuration's client secret, for at most `ttl`, in a
//! `SecretString` that is zeroed when dropped — a refresh backlog would
//! otherwise decrypt it thousands of times a minute. `ttl` 0 switches
//! caching off.
//!
//! **Renewal.** Entries in use are read again before they expire, many in
//! one query ([`TtlCache::renewable`], [`TtlCache::renew`]), rather than one
//! by one by the request that finds them expired: a renewed entry counts its
//! age from when the renewal began to read, so no entry is ever older than
//! `ttl` and what another process changed is seen within `ttl` as before.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

pub struct TtlCache<K, V> {
    /// The `cache` label of its metrics.
    name: &'static str,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    /// (read at, value, used since read)
    map: HashMap<K, (Instant, Arc<V>, bool)>,
    /// Bumped by every removal: a value read from the database before a
    /// removal must not be stored after it (see [`TtlCache::insert`]).
    generation: u64,
}

impl<K, V> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            name: "unnamed",
            ttl,
            capacity,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// Names the cache in the metrics (`oauth_vault_cache_requests_total`).
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        // entries are inserted and removed whole: a poisoned map is intact
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take this before reading what will be inserted, and pass it to
    /// [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The entry, if it was stored less than `ttl` ago.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.enabled() {
            return None;
        }
        let found = {
            let mut entries = self.lock();
            match entries.map.get_mut(key) {
                Some((at, value, used)) if at.elapsed() < self.ttl => {
                    *used = true;
                    Some(value.clone())
                }
                Some(_) => {
                    entries.map.remove(key);
                    None
                }
                None => None,
            }
        };
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!("oauth_vault_cache_requests_total", "cache" => self.name, "result" => result)
            .increment(1);
        found
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The keys of entries used since they were read that expire within
    /// `within`: the ones to read again before they do.
    pub fn renewable(&self, within: Duration) -> Vec<K> {
        if !self.enabled() {
            return Vec::new();
        }
        let ttl = self.ttl;
        self.lock()
            .map
            .iter()
            .filter(|(_, (at, _, used))| {
                let age = at.elapsed();
                *used && age < ttl && age + within >= ttl
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Stores `value`, read again by a renewal that began reading at
    /// `read_at`, after [`Self::generation`] gave `generation`; like
    /// [`Self::insert`], nothing is stored if anything was removed since.
    pub fn renew(&self, key: K, value: Arc<V>, generation: u64, read_at: Instant) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != generation {
            return;
        }
        // only entries still held: a renewal does not bring back what was dropped
        if let Some(entry) = entries.map.get_mut(&key) {
            if entry.0 < read_at {
                *entry = (read_at, value, false);
            }
        }
    }

    /// Stores `value`, read after [`Self::generation`] gave `generation`;
    /// nothing is stored if anything was removed since (the value may be
    /// what the removal was about).
    pub fn insert(&self, key: K, value: Arc<V>, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != generation {
            return;
        }
        if entries.map.len() >= self.capacity && !entries.map.contains_key(&key) {
            let ttl = self.ttl;
            entries.map.retain(|_, (at, _, _)| at.elapsed() < ttl);
            if entries.map.len() >= self.capacity {
                // all fresh: start over rather than track recency
                entries.map.clear();
            }
        }
        entries.map.insert(key, (Instant::now(), value, false));
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.remove(key);
    }

    /// Drops the entries `keep` says no to.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.retain(|k, (_, v, _)| keep(k, v));
    }

    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.map.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_stay_bounded() {
        let cache = TtlCache::new(Duration::from_millis(40), 3);
        cache.insert("a".to_string(), Arc::new(1), cache.generation());
        assert_eq!(cache.get("a").as_deref(), Some(&1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("a"), None, "expired");
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.insert(k.to_string(), Arc::new(i), cache.generation());
        }
        assert!(cache.len() <= 3, "bounded: {}", cache.len());
        assert_eq!(cache.get("d").as_deref(), Some(&3), "the newest is kept");
        cache.remove("d");
        assert_eq!(cache.get("d"), None);
        cache.insert("e".to_string(), Arc::new(9), cache.generation());
        cache.retain(|_, v| *v != 9);
        assert_eq!(cache.get("e"), None);
    }

    #[test]
    fn what_was_read_before_a_removal_is_not_stored_after_it() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let before_read = cache.generation();
        // meanwhile another request changes the row and drops the entry
        cache.remove("a");
        cache.insert("a".to_string(), Arc::new("stale"), before_read);
        assert_eq!(cache.get("a"), None);
        cache.insert("a".to_string(), Arc::new("fresh"), cache.generation());
        assert_eq!(cache.get("a").as_deref(), Some(&"fresh"));
    }

    #[test]
    fn entries_in_use_are_renewed_before_they_expire_and_only_them() {
        let cache = TtlCache::new(Duration::from_millis(200), 10);
        let g = cache.generation();
        cache.insert("used".to_string(), Arc::new(1), g);
        cache.insert("idle".to_string(), Arc::new(1), g);
        assert!(
            cache.renewable(Duration::from_millis(100)).is_empty(),
            "young"
        );
        cache.get("used");
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(
            cache.renewable(Duration::from_millis(100)),
            vec!["used".to_string()]
        );
        // a renewal that read before a removal stores nothing
        let before = cache.generation();
        let read_at = Instant::now();
        cache.remove("other");
        cache.renew("used".to_string(), Arc::new(2), before, read_at);
        assert_eq!(cache.get("used").as_deref(), Some(&1));
        let read_at = Instant::now();
        cache.renew("used".to_string(), Arc::new(3), cache.generation(), read_at);
        cache.renew("gone".to_string(), Arc::new(3), cache.generation(), read_at);
        assert_eq!(cache.get("gone"), None, "not brought back");
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("used").as_deref(), Some(&3), "renewed: lives on");
        assert_eq!(cache.get("idle"), None, "not renewed: expired");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            cache.get("used"),
            None,
            "a renewal's age counts from its read"
        );
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let cache = TtlCache::new(Duration::ZERO, 10);
        cache.insert("a".to_string(), Arc::new(1), cache.generation());
        assert!(cache.is_empty());
        assert_eq!(cache.get("a"), None);
    }
}
