//! A Merkle Patricia Trie as Ethereum defines it: keys are walked as nibbles; leaves and extensions
//! carry hex-prefix encoded paths; nodes are RLP; a child whose encoding is shorter than 32 bytes
//! is inlined in its parent, any other is referenced by its keccak256 hash. The trie loads nodes
//! lazily from a [`NodeStore`] and, on [`Trie::commit`], hands back only the nodes that changed, so
//! updating a few accounts touches a few paths, never the whole state.

use std::collections::HashMap;

use super::rlp::{self, Item, RlpError};
use crate::chain::{Hash, encoding::keccak256, types::to_hex};

/// keccak256(RLP("")): the root of the empty trie.
pub const EMPTY_ROOT: Hash = [
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
];

/// A trie that cannot be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TrieError {
    /// A referenced node is not in the store (or not in the proof).
    #[error("trie node {0} is missing")]
    MissingNode(String),
    /// A node's bytes are not valid RLP.
    #[error("trie node {hash}: {error}")]
    Rlp {
        /// The node's hash.
        hash: String,
        /// The decoder's complaint.
        error: RlpError,
    },
    /// A node's RLP is not a leaf, extension or branch.
    #[error("malformed trie node: {0}")]
    Malformed(&'static str),
    /// The backing store failed.
    #[error("trie store: {0}")]
    Store(String),
}

/// Where trie nodes are read from, by hash.
pub trait NodeStore {
    /// The RLP encoding of the node with this keccak256 hash, if present.
    fn get_node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, TrieError>;
}

/// An in-memory node store (tests, proofs, genesis).
#[derive(Default, Debug, Clone)]
pub struct MemoryStore {
    nodes: HashMap<Hash, Vec<u8>>,
}

impl MemoryStore {
    /// Adds nodes returned by [`Trie::commit`].
    pub fn extend(&mut self, nodes: impl IntoIterator<Item = (Hash, Vec<u8>)>) {
        self.nodes.extend(nodes);
    }
}

impl NodeStore for MemoryStore {
    fn get_node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, TrieError> {
        Ok(self.nodes.get(hash).cloned())
    }
}

/// Nodes written by a commit: (keccak256, RLP).
pub type NewNodes = Vec<(Hash, Vec<u8>)>;

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Leaf(Vec<u8>, Vec<u8>),
    Extension(Vec<u8>, Box<Node>),
    Branch(Box<[Node; 16]>, Option<Vec<u8>>),
    /// A node not yet loaded from the store.
    Hash(Hash),
}

fn empty_children() -> Box<[Node; 16]> {
    Box::new(std::array::from_fn(|_| Node::Empty))
}

fn nibbles(key: &[u8]) -> Vec<u8> {
    key.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn hex_prefix(path: &[u8], leaf: bool) -> Vec<u8> {
    let flag = if leaf { 2 } else { 0 };
    let mut out = Vec::with_capacity(path.len() / 2 + 1);
    let rest = if path.len() % 2 == 1 {
        out.push(((flag + 1) << 4) | path[0]);
        &path[1..]
    } else {
        out.push(flag << 4);
        path
    };
    out.extend(rest.chunks(2).map(|p| (p[0] << 4) | p[1]));
    out
}

fn decode_hex_prefix(bytes: &[u8]) -> Result<(Vec<u8>, bool), TrieError> {
    let first = *bytes.first().ok_or(TrieError::Malformed("empty path"))?;
    let flag = first >> 4;
    if flag > 3 {
        return Err(TrieError::Malformed("bad hex-prefix flag"));
    }
    let mut path = Vec::with_capacity(bytes.len() * 2);
    if flag & 1 == 1 {
        path.push(first & 0x0f);
    } else if first & 0x0f != 0 {
        return Err(TrieError::Malformed("bad hex-prefix padding"));
    }
    path.extend(nibbles(&bytes[1..]));
    Ok((path, flag & 2 == 2))
}

fn decode_node(bytes: &[u8], hash: &Hash) -> Result<Node, TrieError> {
    let item = rlp::decode(bytes).map_err(|error| TrieError::Rlp {
        hash: to_hex(hash),
        error,
    })?;
    node_from_item(&item)
}

fn node_from_item(item: &Item<'_>) -> Result<Node, TrieError> {
    let Item::List(items) = item else {
        return Err(TrieError::Malformed("node is not a list"));
    };
    let bad = |_: RlpError| TrieError::Malformed("node field is not a byte string");
    match items.len() {
        2 => {
            let (path, leaf) = decode_hex_prefix(items[0].0.bytes().map_err(bad)?)?;
            if leaf {
                Ok(Node::Leaf(path, items[1].0.bytes().map_err(bad)?.to_vec()))
            } else {
                if path.is_empty() {
                    return Err(TrieError::Malformed("extension with empty path"));
                }
                Ok(Node::Extension(
                    path,
                    Box::new(child_from_item(&items[1].0)?),
                ))
            }
        }
        17 => {
            let mut children = empty_children();
            for (slot, (child, _)) in children.iter_mut().zip(items.iter()) {
                *slot = child_from_item(child)?;
            }
            let value = items[16].0.bytes().map_err(bad)?;
            Ok(Node::Branch(
                children,
                (!value.is_empty()).then(|| value.to_vec()),
            ))
        }
        _ => Err(TrieError::Malformed("node list must have 2 or 17 items")),
    }
}

fn child_from_item(item: &Item<'_>) -> Result<Node, TrieError> {
    match item {
        Item::Bytes([]) => Ok(Node::Empty),
        Item::Bytes(b) if b.len() == 32 => Ok(Node::Hash((*b).try_into().expect("32 bytes"))),
        Item::Bytes(_) => Err(TrieError::Malformed(
            "child reference is neither a hash nor inline",
        )),
        Item::List(_) => node_from_item(item),
    }
}

/// Encodes `node`, hashing out (and collecting) every child of 32 bytes or more.
fn encode_node(node: &Node, out: &mut NewNodes) -> Vec<u8> {
    let mut payload = Vec::new();
    match node {
        Node::Empty => return vec![0x80],
        Node::Hash(_) => unreachable!("a hash reference is encoded by its parent"),
        Node::Leaf(path, value) => {
            rlp::encode_bytes(&mut payload, &hex_prefix(path, true));
            rlp::encode_bytes(&mut payload, value);
        }
        Node::Extension(path, child) => {
            rlp::encode_bytes(&mut payload, &hex_prefix(path, false));
            payload.extend(child_reference(child, out));
        }
        Node::Branch(children, value) => {
            for child in children.iter() {
                payload.extend(child_reference(child, out));
            }
            rlp::encode_bytes(&mut payload, value.as_deref().unwrap_or(&[]));
        }
    }
    rlp::encode_list(&payload)
}

fn child_reference(node: &Node, out: &mut NewNodes) -> Vec<u8> {
    match node {
        Node::Empty => vec![0x80],
        Node::Hash(h) => {
            let mut r = Vec::with_capacity(33);
            rlp::encode_bytes(&mut r, h);
            r
        }
        _ => {
            let encoded = encode_node(node, out);
            if encoded.len() < 32 {
                encoded
            } else {
                let hash = keccak256(&encoded);
                out.push((hash, encoded));
                let mut r = Vec::with_capacity(33);
                rlp::encode_bytes(&mut r, &hash);
                r
            }
        }
    }
}

/// A trie rooted at some state root, reading nodes from `store`.
pub struct Trie<'s, S: NodeStore + ?Sized> {
    store: &'s S,
    root: Node,
}

impl<'s, S: NodeStore + ?Sized> Trie<'s, S> {
    /// The empty trie.
    pub fn new(store: &'s S) -> Self {
        Self {
            store,
            root: Node::Empty,
        }
    }

    /// The trie whose root hash is `root` (nodes are loaded on demand).
    pub fn at(store: &'s S, root: Hash) -> Self {
        let root = if root == EMPTY_ROOT {
            Node::Empty
        } else {
            Node::Hash(root)
        };
        Self { store, root }
    }

    fn resolve(&self, hash: &Hash) -> Result<Node, TrieError> {
        let bytes = self
            .store
            .get_node(hash)?
            .ok_or_else(|| TrieError::MissingNode(to_hex(hash)))?;
        decode_node(&bytes, hash)
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TrieError> {
        self.get_at(&self.root, &nibbles(key))
    }

    fn get_at(&self, node: &Node, path: &[u8]) -> Result<Option<Vec<u8>>, TrieError> {
        match node {
            Node::Empty => Ok(None),
            Node::Leaf(k, v) => Ok((k.as_slice() == path).then(|| v.clone())),
            Node::Extension(k, child) => match path.strip_prefix(k.as_slice()) {
                Some(rest) => self.get_at(child, rest),
                None => Ok(None),
            },
            Node::Branch(children, value) => match path.split_first() {
                None => Ok(value.clone()),
                Some((i, rest)) => self.get_at(&children[usize::from(*i)], rest),
            },
            Node::Hash(h) => self.get_at(&self.resolve(h)?, path),
        }
    }

    /// Sets `key` to `value`; an empty value removes the key (Ethereum's convention).
    pub fn insert(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), TrieError> {
        if value.is_empty() {
            return self.remove(key);
        }
        let root = std::mem::replace(&mut self.root, Node::Empty);
        self.root = self.insert_at(root, &nibbles(key), value)?;
        Ok(())
    }

    fn insert_at(&self, node: Node, path: &[u8], value: Vec<u8>) -> Result<Node, TrieError> {
        Ok(match node {
            Node::Empty => Node::Leaf(path.to_vec(), value),
            Node::Hash(h) => return self.insert_at(self.resolve(&h)?, path, value),
            Node::Leaf(key, old) => {
                let common = common_prefix(&key, path);
                if common == key.len() && common == path.len() {
                    return Ok(Node::Leaf(key, value));
                }
                let mut children = empty_children();
                let mut branch_value = None;
                if common == key.len() {
                    branch_value = Some(old);
                } else {
                    children[usize::from(key[common])] =
                        Node::Leaf(key[common + 1..].to_vec(), old);
                }
                if common == path.len() {
                    branch_value = Some(value);
                } else {
                    children[usize::from(path[common])] =
                        Node::Leaf(path[common + 1..].to_vec(), value);
                }
                wrap_extension(&path[..common], Node::Branch(children, branch_value))
            }
            Node::Extension(key, child) => {
                let common = common_prefix(&key, path);
                if common == key.len() {
                    let child = self.insert_at(*child, &path[common..], value)?;
                    return Ok(Node::Extension(key, Box::new(child)));
                }
                let mut children = empty_children();
                let mut branch_value = None;
                children[usize::from(key[common])] = if key.len() - common == 1 {
                    *child
                } else {
                    Node::Extension(key[common + 1..].to_vec(), child)
                };
                if common == path.len() {
                    branch_value = Some(value);
                } else {
                    children[usize::from(path[common])] =
                        Node::Leaf(path[common + 1..].to_vec(), value);
                }
                wrap_extension(&path[..common], Node::Branch(children, branch_value))
            }
            Node::Branch(mut children, branch_value) => match path.split_first() {
                None => Node::Branch(children, Some(value)),
                Some((i, rest)) => {
                    let slot = &mut children[usize::from(*i)];
                    let child = std::mem::replace(slot, Node::Empty);
                    *slot = self.insert_at(child, rest, value)?;
                    Node::Branch(children, branch_value)
                }
            },
        })
    }

    /// Removes `key` (a no-op when absent).
    pub fn remove(&mut self, key: &[u8]) -> Result<(), TrieError> {
        let root = std::mem::replace(&mut self.root, Node::Empty);
        self.root = self.remove_at(root, &nibbles(key))?;
        Ok(())
    }

    fn remove_at(&self, node: Node, path: &[u8]) -> Result<Node, TrieError> {
        match node {
            Node::Empty => Ok(Node::Empty),
            Node::Hash(h) => self.remove_at(self.resolve(&h)?, path),
            Node::Leaf(key, value) => Ok(if key.as_slice() == path {
                Node::Empty
            } else {
                Node::Leaf(key, value)
            }),
            Node::Extension(key, child) => match path.strip_prefix(key.as_slice()) {
                None => Ok(Node::Extension(key, child)),
                Some(rest) => {
                    let child = self.remove_at(*child, rest)?;
                    self.join_extension(key, child)
                }
            },
            Node::Branch(mut children, mut value) => {
                match path.split_first() {
                    None => value = None,
                    Some((i, rest)) => {
                        let slot = &mut children[usize::from(*i)];
                        let child = std::mem::replace(slot, Node::Empty);
                        *slot = self.remove_at(child, rest)?;
                    }
                }
                self.normalize_branch(children, value)
            }
        }
    }

    /// An extension over `child` after a removal below it, merged with the child where needed.
    fn join_extension(&self, key: Vec<u8>, child: Node) -> Result<Node, TrieError> {
        Ok(match child {
            Node::Empty => Node::Empty,
            Node::Hash(h) => return self.join_extension(key, self.resolve(&h)?),
            Node::Leaf(k, v) => Node::Leaf([key, k].concat(), v),
            Node::Extension(k, c) => Node::Extension([key, k].concat(), c),
            branch @ Node::Branch(..) => Node::Extension(key, Box::new(branch)),
        })
    }

    /// A branch left with fewer than two entries collapses into a leaf or extension.
    fn normalize_branch(
        &self,
        children: Box<[Node; 16]>,
        value: Option<Vec<u8>>,
    ) -> Result<Node, TrieError> {
        let used: Vec<usize> = children
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c, Node::Empty))
            .map(|(i, _)| i)
            .collect();
        match (used.as_slice(), value) {
            ([], None) => Ok(Node::Empty),
            ([], Some(v)) => Ok(Node::Leaf(Vec::new(), v)),
            ([i], None) => {
                let index = *i;
                let [child] = <[Node; 1]>::try_from(
                    children
                        .into_iter()
                        .filter(|c| !matches!(c, Node::Empty))
                        .collect::<Vec<_>>(),
                )
                .map_err(|_| TrieError::Malformed("branch bookkeeping"))?;
                self.join_extension(vec![index as u8], child)
            }
            (_, value) => Ok(Node::Branch(children, value)),
        }
    }

    /// Hashes the trie; returns the root and every node created since the last commit. The trie
    /// then holds only the root hash, so memory stays bounded across blocks.
    pub fn commit(&mut self) -> (Hash, NewNodes) {
        let mut out = Vec::new();
        let root = match &self.root {
            Node::Empty => EMPTY_ROOT,
            Node::Hash(h) => *h,
            node => {
                let encoded = encode_node(node, &mut out);
                let hash = keccak256(&encoded);
                out.push((hash, encoded));
                hash
            }
        };
        self.root = if root == EMPTY_ROOT {
            Node::Empty
        } else {
            Node::Hash(root)
        };
        (root, out)
    }

    /// The RLP of every stored node on the path to `key`, root first: a proof of the key's value
    /// (or of its absence) against the committed root. Call on a committed trie.
    pub fn prove(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, TrieError> {
        let mut proof = Vec::new();
        self.prove_at(&self.root, &nibbles(key), &mut proof)?;
        Ok(proof)
    }

    fn prove_at(
        &self,
        node: &Node,
        path: &[u8],
        proof: &mut Vec<Vec<u8>>,
    ) -> Result<(), TrieError> {
        match node {
            Node::Empty | Node::Leaf(..) => Ok(()),
            Node::Hash(h) => {
                let bytes = self
                    .store
                    .get_node(h)?
                    .ok_or_else(|| TrieError::MissingNode(to_hex(h)))?;
                let node = decode_node(&bytes, h)?;
                proof.push(bytes);
                self.prove_at(&node, path, proof)
            }
            Node::Extension(k, child) => match path.strip_prefix(k.as_slice()) {
                Some(rest) => self.prove_at(child, rest, proof),
                None => Ok(()),
            },
            Node::Branch(children, _) => match path.split_first() {
                None => Ok(()),
                Some((i, rest)) => self.prove_at(&children[usize::from(*i)], rest, proof),
            },
        }
    }
}

fn wrap_extension(prefix: &[u8], node: Node) -> Node {
    if prefix.is_empty() {
        node
    } else {
        Node::Extension(prefix.to_vec(), Box::new(node))
    }
}

/// Checks a proof from [`Trie::prove`] against `root`: the value under `key` (`None` proves
/// absence). A proof missing a node on the path is an error, never a silent `None`.
pub fn verify_proof(
    root: &Hash,
    key: &[u8],
    proof: &[Vec<u8>],
) -> Result<Option<Vec<u8>>, TrieError> {
    let mut store = MemoryStore::default();
    store.extend(proof.iter().map(|node| (keccak256(node), node.clone())));
    Trie::at(&store, *root).get(key)
}

/// Root of a trie holding exactly `entries`, built in memory (tests, genesis).
pub fn root_of<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> (Hash, MemoryStore) {
    let mut store = MemoryStore::default();
    let (root, nodes) = {
        let empty = MemoryStore::default();
        let mut trie = Trie::new(&empty);
        for (k, v) in entries {
            trie.insert(k, v.to_vec())
                .expect("an in-memory trie without hash references cannot fail");
        }
        trie.commit()
    };
    store.extend(nodes);
    (root, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_keccak_of_empty_string() {
        assert_eq!(keccak256(&[0x80]), EMPTY_ROOT);
        let store = MemoryStore::default();
        assert_eq!(Trie::new(&store).commit().0, EMPTY_ROOT);
    }

    #[test]
    fn hex_prefix_roundtrip() {
        for (path, leaf) in [
            (vec![1, 2, 3], false),
            (vec![0, 1, 2, 3], true),
            (vec![], true),
            (vec![15], false),
        ] {
            assert_eq!(
                decode_hex_prefix(&hex_prefix(&path, leaf)).unwrap(),
                (path, leaf)
            );
        }
        assert_eq!(hex_prefix(&[1, 2, 3, 4, 5], false), [0x11, 0x23, 0x45]);
        assert_eq!(
            hex_prefix(&[0, 15, 1, 12, 11, 8], true),
            [0x20, 0x0f, 0x1c, 0xb8]
        );
    }

    #[test]
    fn incremental_updates_over_a_store_match_a_rebuild() {
        let mut store = MemoryStore::default();
        let mut root = EMPTY_ROOT;
        let mut model = std::collections::BTreeMap::new();
        for round in 0u32..20 {
            let mut trie = Trie::at(&store, root);
            for i in 0..15u32 {
                let key = keccak256(&(round * 7 + i * 13 % 50).to_be_bytes()).to_vec();
                if (round + i) % 5 == 0 {
                    trie.remove(&key).unwrap();
                    model.remove(&key);
                } else {
                    let value = format!("v{round}-{i}").into_bytes();
                    trie.insert(&key, value.clone()).unwrap();
                    model.insert(key, value);
                }
            }
            let (new_root, nodes) = trie.commit();
            store.extend(nodes);
            root = new_root;
            let rebuilt = root_of(model.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).0;
            assert_eq!(root, rebuilt, "round {round}");
            let trie = Trie::at(&store, root);
            for (k, v) in &model {
                assert_eq!(trie.get(k).unwrap().as_ref(), Some(v));
                assert_eq!(
                    verify_proof(&root, k, &trie.prove(k).unwrap())
                        .unwrap()
                        .as_ref(),
                    Some(v)
                );
            }
        }
    }
}
