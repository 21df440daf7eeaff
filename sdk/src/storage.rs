//! Typed contract storage: [`Item`] holds one value, [`Map`] a keyed collection. Values
//! are stored as JSON under keys scoped to the contract by the node.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::env;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The host refused (see `govchain_abi::code`), e.g. a write in a query.
    Host(i64),
    /// A stored value does not decode as the expected type.
    Codec(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Host(c) => write!(f, "storage: {}", govchain_abi::code::name(*c)),
            StorageError::Codec(e) => write!(f, "storage codec: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<StorageError> for String {
    fn from(e: StorageError) -> Self {
        e.to_string()
    }
}

fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(raw).map_err(|e| StorageError::Codec(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|e| StorageError::Codec(e.to_string()))
}

/// One value under a fixed key.
#[derive(Debug)]
pub struct Item<T> {
    key: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Item<T> {
    /// An item stored under `key`.
    pub const fn new(key: &'static str) -> Self {
        Item {
            key,
            _t: PhantomData,
        }
    }

    /// The value, if set.
    pub fn load(&self) -> Result<Option<T>, StorageError> {
        env::storage_get(self.key.as_bytes())
            .map_err(StorageError::Host)?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Sets the value.
    pub fn save(&self, value: &T) -> Result<(), StorageError> {
        env::storage_set(self.key.as_bytes(), &encode(value)?).map_err(StorageError::Host)
    }

    /// Removes the value.
    pub fn remove(&self) -> Result<(), StorageError> {
        env::storage_remove(self.key.as_bytes()).map_err(StorageError::Host)
    }
}

/// A key type of a [`Map`]: its byte encoding must sort like the keys.
pub trait MapKey: Sized {
    /// Encodes the key.
    fn to_key(&self) -> Vec<u8>;
    /// Decodes a key.
    fn from_key(raw: &[u8]) -> Option<Self>;
}

impl MapKey for String {
    fn to_key(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_key(raw: &[u8]) -> Option<Self> {
        String::from_utf8(raw.to_vec()).ok()
    }
}

impl MapKey for u64 {
    fn to_key(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn from_key(raw: &[u8]) -> Option<Self> {
        raw.try_into().ok().map(u64::from_be_bytes)
    }
}

/// A collection of values under `namespace`, iterable in key order.
#[derive(Debug)]
pub struct Map<K, V> {
    namespace: &'static str,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: MapKey, V: Serialize + DeserializeOwned> Map<K, V> {
    /// A map stored under `namespace` (keys are `namespace || 0x00 || key`).
    pub const fn new(namespace: &'static str) -> Self {
        Map {
            namespace,
            _t: PhantomData,
        }
    }

    fn prefix(&self) -> Vec<u8> {
        let mut p = self.namespace.as_bytes().to_vec();
        p.push(0);
        p
    }

    fn full(&self, k: &K) -> Vec<u8> {
        let mut p = self.prefix();
        p.extend_from_slice(&k.to_key());
        p
    }

    /// The value under `k`.
    pub fn get(&self, k: &K) -> Result<Option<V>, StorageError> {
        env::storage_get(&self.full(k))
            .map_err(StorageError::Host)?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Whether `k` is set.
    pub fn has(&self, k: &K) -> Result<bool, StorageError> {
        Ok(env::storage_get(&self.full(k))
            .map_err(StorageError::Host)?
            .is_some())
    }

    /// Sets `k`.
    pub fn set(&self, k: &K, v: &V) -> Result<(), StorageError> {
        env::storage_set(&self.full(k), &encode(v)?).map_err(StorageError::Host)
    }

    /// Removes `k`.
    pub fn remove(&self, k: &K) -> Result<(), StorageError> {
        env::storage_remove(&self.full(k)).map_err(StorageError::Host)
    }

    /// Entries in key order, starting after `after` (or from the first).
    pub fn range(&self, after: Option<&K>, limit: usize) -> Result<Vec<(K, V)>, StorageError> {
        let prefix = self.prefix();
        let mut cursor = after.map(|k| self.full(k)).unwrap_or_default();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((k, v)) = env::storage_next(&prefix, &cursor).map_err(StorageError::Host)?
            else {
                break;
            };
            let key = K::from_key(&k[prefix.len()..])
                .ok_or_else(|| StorageError::Codec("map key".into()))?;
            out.push((key, decode(&v)?));
            cursor = k;
        }
        Ok(out)
    }
}
