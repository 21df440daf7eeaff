//! Typed tables: every kind of record the chain keeps is a [`Table`] (a column, a key
//! prefix, a key codec and a value codec), so the bytes of keys and values are written
//! and read in one place and nowhere else.
//!
//! A key is the table's prefix followed by the encoded key. Prefixes of one column are
//! unique and prefix-free ([`check_prefix_free`]), so a scan of one table never sees
//! another's records. Composite keys join their parts with `/` ([`Seg`]); a part of
//! variable width never contains `/`, so a scan under one part's value
//! ([`Table::within`]) never sees a longer value that starts the same way.

use std::fmt;
use std::marker::PhantomData;

use crate::Column;

/// A stored key or value that does not decode as its table says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {table} record: {reason}")]
pub struct Corrupt {
    /// The table's name.
    pub table: &'static str,
    /// What did not decode.
    pub reason: String,
}

/// How a table's key is written after its prefix.
pub trait KeyCodec {
    /// The key as callers pass it.
    type Key<'a>: Copy;
    /// The key as decoded from storage.
    type Owned;
    /// Bytes of every encoded key, when fixed.
    const WIDTH: Option<usize>;
    /// Appends the key's bytes.
    fn encode(key: Self::Key<'_>, out: &mut Vec<u8>);
    /// Decodes the whole of `bytes`.
    fn decode(bytes: &[u8]) -> Result<Self::Owned, String>;
}

/// How a table's value is written.
pub trait ValueCodec {
    /// The value's type.
    type Value;
    /// The value's bytes.
    fn encode(value: &Self::Value) -> Vec<u8>;
    /// Decodes a stored value.
    fn decode(bytes: &[u8]) -> Result<Self::Value, String>;
}

/// One kind of record: where it lives and how its keys and values are written.
pub struct Table<K, V> {
    name: &'static str,
    column: Column,
    prefix: &'static [u8],
    codecs: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table {} ({:?}, {:?})",
            self.name,
            self.column,
            String::from_utf8_lossy(self.prefix)
        )
    }
}

impl<K: KeyCodec, V: ValueCodec> Table<K, V> {
    /// A table named `name` (in errors) under `prefix` in `column`.
    pub const fn new(name: &'static str, column: Column, prefix: &'static [u8]) -> Self {
        Table {
            name,
            column,
            prefix,
            codecs: PhantomData,
        }
    }

    /// The table's name (in errors).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The table's column.
    pub fn column(&self) -> Column {
        self.column
    }

    /// The stored key of `key`.
    pub fn key(&self, key: K::Key<'_>) -> Vec<u8> {
        let mut out = self.prefix.to_vec();
        K::encode(key, &mut out);
        out
    }

    /// The prefix every key of the table starts with (a scan of the whole table).
    pub fn all(&self) -> Vec<u8> {
        self.prefix.to_vec()
    }

    /// A record's stored key and value (for a write batch).
    pub fn entry(&self, key: K::Key<'_>, value: &V::Value) -> (Vec<u8>, Vec<u8>) {
        (self.key(key), V::encode(value))
    }

    /// Decodes a stored key of this table.
    pub fn decode_key(&self, raw: &[u8]) -> Result<K::Owned, Corrupt> {
        let rest = raw
            .strip_prefix(self.prefix)
            .ok_or_else(|| self.corrupt("key outside the table's prefix"))?;
        K::decode(rest).map_err(|reason| self.corrupt(reason))
    }

    /// A value's stored bytes.
    pub fn encode_value(&self, value: &V::Value) -> Vec<u8> {
        V::encode(value)
    }

    /// Decodes a stored value of this table.
    pub fn decode_value(&self, raw: &[u8]) -> Result<V::Value, Corrupt> {
        V::decode(raw).map_err(|reason| self.corrupt(reason))
    }

    /// Decodes a stored `(key, value)` pair of this table.
    pub fn decode(
        &self,
        (k, v): (impl AsRef<[u8]>, impl AsRef<[u8]>),
    ) -> Result<(K::Owned, V::Value), Corrupt> {
        Ok((self.decode_key(k.as_ref())?, self.decode_value(v.as_ref())?))
    }

    fn corrupt(&self, reason: impl Into<String>) -> Corrupt {
        Corrupt {
            table: self.name,
            reason: reason.into(),
        }
    }
}

impl<A: KeyCodec, B: KeyCodec, V: ValueCodec> Table<Seg<A, B>, V> {
    /// The prefix of the keys whose first part is `first` (a scan under it).
    pub fn within(&self, first: A::Key<'_>) -> Vec<u8> {
        let mut out = self.prefix.to_vec();
        A::encode(first, &mut out);
        out.push(b'/');
        out
    }
}

/// Typed reads: of committed records (the store) or through pending writes (the
/// executor's overlay).
pub trait Records {
    /// One record of a table.
    fn read<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> crate::Result<Option<V::Value>>;

    /// Whether a table holds a record under `key`.
    fn contains<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> crate::Result<bool> {
        Ok(self.read(table, key)?.is_some())
    }

    /// One record, or the value's default when absent (counters start at 0).
    fn read_or_default<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> crate::Result<V::Value>
    where
        V::Value: Default,
    {
        Ok(self.read(table, key)?.unwrap_or_default())
    }
}

/// A table's identity for [`check_prefix_free`].
pub trait AnyTable: fmt::Debug {
    /// The table's name.
    fn name(&self) -> &'static str;
    /// Its column.
    fn column(&self) -> Column;
    /// Its key prefix.
    fn prefix(&self) -> &'static [u8];
}

impl<K: KeyCodec, V: ValueCodec> AnyTable for Table<K, V> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn column(&self) -> Column {
        self.column
    }
    fn prefix(&self) -> &'static [u8] {
        self.prefix
    }
}

/// Checks that names are unique and that within each column no table's prefix is
/// another's prefix (or equal to it); names the first offending pair.
pub fn check_prefix_free(tables: &[&dyn AnyTable]) -> Result<(), String> {
    for (i, a) in tables.iter().enumerate() {
        for b in &tables[i + 1..] {
            if a.name() == b.name() {
                return Err(format!("two tables are named {}", a.name()));
            }
            if a.column() == b.column()
                && (a.prefix().starts_with(b.prefix()) || b.prefix().starts_with(a.prefix()))
            {
                return Err(format!(
                    "{a:?} and {b:?} overlap: one prefix starts the other"
                ));
            }
        }
    }
    Ok(())
}

/// No key after the prefix: the table holds one record.
#[derive(Debug)]
pub enum Single {}

impl KeyCodec for Single {
    type Key<'a> = ();
    type Owned = ();
    const WIDTH: Option<usize> = Some(0);
    fn encode((): (), _: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err("a single record's key has a suffix".into())
        }
    }
}

/// An identifier (department, certificate, contract, purpose...): UTF-8 without `/`
/// (identifiers are checked before anything is written under them), so it may come
/// before a `/` in a key and a scan under it ([`Table::within`]) sees its own records
/// only. A lookup of a name with `/` (a client's typo, a probe) finds nothing: no record
/// was ever written under one.
#[derive(Debug)]
pub enum Id {}

impl KeyCodec for Id {
    type Key<'a> = &'a str;
    type Owned = String;
    const WIDTH: Option<usize> = None;
    fn encode(key: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(key.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}

/// Free UTF-8 text (an anchor's key, a policy line): the last part of a key only.
#[derive(Debug)]
pub enum Text {}

/// The same bytes as an [`Id`]; the types differ in where a key may hold them.
impl KeyCodec for Text {
    type Key<'a> = &'a str;
    type Owned = String;
    const WIDTH: Option<usize> = None;
    fn encode(key: &str, out: &mut Vec<u8>) {
        Id::encode(key, out);
    }
    fn decode(bytes: &[u8]) -> Result<String, String> {
        Id::decode(bytes)
    }
}

/// Bytes written as lowercase hex.
#[derive(Debug)]
pub enum Hex {}

impl KeyCodec for Hex {
    type Key<'a> = &'a [u8];
    type Owned = Vec<u8>;
    const WIDTH: Option<usize> = None;
    fn encode(key: &[u8], out: &mut Vec<u8>) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for b in key {
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 0xf)]);
        }
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let digit = |c: u8| {
            char::from(c)
                .to_digit(16)
                .ok_or_else(|| format!("{:?} is not a hex digit", char::from(c)))
        };
        if !bytes.len().is_multiple_of(2) {
            return Err("odd number of hex digits".into());
        }
        bytes
            .chunks(2)
            .map(|p| {
                Ok(u8::try_from(digit(p[0])? << 4 | digit(p[1])?)
                    .expect("two hex digits are a byte"))
            })
            .collect()
    }
}

/// Raw bytes, as given (the last part of a key only).
#[derive(Debug)]
pub enum Raw {}

impl KeyCodec for Raw {
    type Key<'a> = &'a [u8];
    type Owned = Vec<u8>;
    const WIDTH: Option<usize> = None;
    fn encode(key: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(key);
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

/// A 32-byte hash.
#[derive(Debug)]
pub enum Hash32 {}

impl KeyCodec for Hash32 {
    type Key<'a> = &'a [u8; 32];
    type Owned = [u8; 32];
    const WIDTH: Option<usize> = Some(32);
    fn encode(key: &[u8; 32], out: &mut Vec<u8>) {
        out.extend_from_slice(key);
    }
    fn decode(bytes: &[u8]) -> Result<[u8; 32], String> {
        bytes
            .try_into()
            .map_err(|_| format!("{} bytes where a hash has 32", bytes.len()))
    }
}

/// One ASCII character (a kind tag).
#[derive(Debug)]
pub enum Tag {}

impl KeyCodec for Tag {
    type Key<'a> = char;
    type Owned = char;
    const WIDTH: Option<usize> = Some(1);
    fn encode(key: char, out: &mut Vec<u8>) {
        debug_assert!(
            key.is_ascii() && key != '/',
            "a tag is one ASCII character other than '/'"
        );
        out.push(u8::try_from(key).unwrap_or(b'?'));
    }
    fn decode(bytes: &[u8]) -> Result<char, String> {
        match bytes {
            [c] if c.is_ascii() => Ok(char::from(*c)),
            _ => Err("a tag is one ASCII byte".into()),
        }
    }
}

macro_rules! big_endian {
    ($(#[$doc:meta] $name:ident $int:ty;)*) => {$(
        #[$doc]
        #[derive(Debug)]
        pub enum $name {}

        impl KeyCodec for $name {
            type Key<'a> = $int;
            type Owned = $int;
            const WIDTH: Option<usize> = Some(size_of::<$int>());
            fn encode(key: $int, out: &mut Vec<u8>) {
                out.extend_from_slice(&key.to_be_bytes());
            }
            fn decode(bytes: &[u8]) -> Result<$int, String> {
                bytes
                    .try_into()
                    .map(<$int>::from_be_bytes)
                    .map_err(|_| format!("{} bytes where {} has {}", bytes.len(), stringify!($int), size_of::<$int>()))
            }
        }

        impl ValueCodec for $name {
            type Value = $int;
            fn encode(value: &$int) -> Vec<u8> {
                value.to_be_bytes().to_vec()
            }
            fn decode(bytes: &[u8]) -> Result<$int, String> {
                <$name as KeyCodec>::decode(bytes)
            }
        }
    )*};
}

big_endian! {
    /// A `u64`, big-endian (keys sort by number).
    U64 u64;
    /// A `u32`, big-endian.
    U32 u32;
    /// An `i64`, big-endian (keys of non-negative numbers sort by number).
    I64 i64;
}

/// Two parts joined by `/`. Decoding splits at a fixed-width part's edge, else at the
/// first `/` (the first part then never contains one).
#[derive(Debug)]
pub struct Seg<A, B>(PhantomData<fn() -> (A, B)>);

impl<A: KeyCodec, B: KeyCodec> KeyCodec for Seg<A, B> {
    type Key<'a> = (A::Key<'a>, B::Key<'a>);
    type Owned = (A::Owned, B::Owned);
    const WIDTH: Option<usize> = match (A::WIDTH, B::WIDTH) {
        (Some(a), Some(b)) => Some(a + 1 + b),
        _ => None,
    };
    fn encode((a, b): Self::Key<'_>, out: &mut Vec<u8>) {
        A::encode(a, out);
        out.push(b'/');
        B::encode(b, out);
    }
    fn decode(bytes: &[u8]) -> Result<Self::Owned, String> {
        let at = match (B::WIDTH, A::WIDTH) {
            (Some(b), _) => bytes.len().checked_sub(b + 1),
            (None, Some(a)) => Some(a),
            (None, None) => bytes.iter().position(|&c| c == b'/'),
        }
        .filter(|&at| bytes.get(at) == Some(&b'/'))
        .ok_or("a composite key without its '/'")?;
        Ok((A::decode(&bytes[..at])?, B::decode(&bytes[at + 1..])?))
    }
}

/// Two parts back to back; the first has a fixed width.
#[derive(Debug)]
pub struct Cat<A, B>(PhantomData<fn() -> (A, B)>);

impl<A: KeyCodec, B: KeyCodec> KeyCodec for Cat<A, B> {
    type Key<'a> = (A::Key<'a>, B::Key<'a>);
    type Owned = (A::Owned, B::Owned);
    const WIDTH: Option<usize> = match (A::WIDTH, B::WIDTH) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    fn encode((a, b): Self::Key<'_>, out: &mut Vec<u8>) {
        const {
            assert!(
                A::WIDTH.is_some(),
                "the first part of a Cat key has a fixed width"
            )
        };
        A::encode(a, out);
        B::encode(b, out);
    }
    fn decode(bytes: &[u8]) -> Result<Self::Owned, String> {
        let at = A::WIDTH
            .filter(|&a| a <= bytes.len())
            .ok_or("a key shorter than its first part")?;
        Ok((A::decode(&bytes[..at])?, B::decode(&bytes[at..])?))
    }
}

/// A protobuf message.
#[derive(Debug)]
pub struct Proto<M>(PhantomData<fn() -> M>);

impl<M: prost::Message + Default> ValueCodec for Proto<M> {
    type Value = M;
    fn encode(value: &M) -> Vec<u8> {
        value.encode_to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<M, String> {
        M::decode(bytes).map_err(|e| e.to_string())
    }
}

/// A JSON document.
#[derive(Debug)]
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T: serde::Serialize + serde::de::DeserializeOwned> ValueCodec for Json<T> {
    type Value = T;
    fn encode(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("chain records serialize to JSON")
    }
    fn decode(bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// An empty value (the key is the record: an index entry, a policy line).
#[derive(Debug)]
pub enum Unit {}

impl ValueCodec for Unit {
    type Value = ();
    fn encode((): &()) -> Vec<u8> {
        Vec::new()
    }
    fn decode(bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err("a marker record holds a value".into())
        }
    }
}

/// UTF-8 text.
#[derive(Debug)]
pub enum Utf8 {}

impl ValueCodec for Utf8 {
    type Value = String;
    fn encode(value: &String) -> Vec<u8> {
        value.as_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}

/// Bytes, as given.
#[derive(Debug)]
pub enum Bytes {}

impl ValueCodec for Bytes {
    type Value = Vec<u8>;
    fn encode(value: &Vec<u8>) -> Vec<u8> {
        value.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests;
