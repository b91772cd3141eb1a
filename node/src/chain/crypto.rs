//! ed25519 signing and verification under one acceptance rule, ZIP 215 (as implemented by
//! `ed25519-consensus`): cofactored verification, `S` must be canonical (`S < L`), public keys and
//! `R` may be any decodable point encoding. Under this rule a signature verifies in a batch exactly
//! when it verifies alone, so the single, batch and parallel paths here can never disagree; the
//! speccheck vectors pin the verdicts. A failed batch falls back to single checks to name the
//! culprit.

use curve25519_dalek_ng::edwards::CompressedEdwardsY;
use ed25519_consensus::{SigningKey, VerificationKey, VerificationKeyBytes, batch};

use super::types::{PublicKey, Signature};

/// A signature that does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum CryptoError {
    /// The public key bytes are not a point on the curve.
    #[error("public key is not a valid ed25519 point")]
    BadPublicKey,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    BadSignature,
}

/// A signature that failed inside a batch, by position.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[error("signature {index} of the batch: {error}")]
pub struct BatchFailure {
    /// Position of the first failing item.
    pub index: usize,
    /// Why it failed.
    pub error: CryptoError,
}

/// A validator or account key pair.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh random key pair from the OS RNG.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::new(rand_core::OsRng),
        }
    }

    /// The key pair whose secret seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from(seed),
        }
    }

    /// The secret seed (keep it private).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verification_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public())
    }
}

/// True when `key` decodes to a point of small order, the identity included. ZIP 215 accepts
/// `R` = identity, `S` = 0 as a signature by such a key on *any* message, so anyone could sign for
/// it: the chain refuses these keys as transaction senders and as validators. A lookup among the
/// 14 encodings of such points ([`small_order_encodings`]): it runs for every transaction, and
/// decompressing a point each time costs a quarter of a 1,000-transfer sync.
pub fn is_small_order(key: &PublicKey) -> bool {
    small_order_encodings().contains(&key.0)
}

/// Every 32-byte encoding that decodes to a point of small order: each of the 8 torsion points'
/// canonical encoding, with the sign bit also set, and with `y + p` for `y < 19` (the
/// non-canonical forms ZIP 215 accepts), kept where the curve library decodes it to a small-order
/// point. Derived from the torsion subgroup once, not typed in: 14 encodings.
pub fn small_order_encodings() -> &'static [[u8; 32]] {
    static ENCODINGS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut out: Vec<[u8; 32]> = Vec::new();
        for point in curve25519_dalek_ng::constants::EIGHT_TORSION.iter() {
            let canonical = point.compress().to_bytes();
            let mut forms = vec![canonical];
            let high_clear = {
                let mut y = canonical;
                y[31] &= 0x7f;
                y
            };
            if high_clear[0] < 19 && high_clear[1..].iter().all(|b| *b == 0) {
                // y + p, with p = 2^255 - 19: [0xed + y, 0xff × 30, 0x7f].
                let mut plus_p = [0xffu8; 32];
                plus_p[0] = 0xed + high_clear[0];
                plus_p[31] = 0x7f | (canonical[31] & 0x80);
                forms.push(plus_p);
            }
            for form in forms {
                for sign in [0u8, 0x80] {
                    let mut candidate = form;
                    candidate[31] = (form[31] & 0x7f) | sign;
                    let small = CompressedEdwardsY(candidate)
                        .decompress()
                        .is_some_and(|p| p.is_small_order());
                    if small && !out.contains(&candidate) {
                        out.push(candidate);
                    }
                }
            }
        }
        out
    })
}

/// True when `key` decodes to a curve point (what verification needs before anything else).
pub fn is_valid_point(key: &PublicKey) -> bool {
    VerificationKey::try_from(key.0).is_ok()
}

/// Signatures this process verified (single checks, and every item of a batch that passed).
/// Process-wide, so the metrics endpoint can export it without threading a counter through
/// every validation path.
static VERIFIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Signatures verified by this process since it started (valid or not).
pub fn verified_signatures() -> u64 {
    VERIFIED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Verifies one signature.
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
    VERIFIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let vk = VerificationKey::try_from(key.0).map_err(|_| CryptoError::BadPublicKey)?;
    vk.verify(&ed25519_consensus::Signature::from(signature.0), message)
        .map_err(|_| CryptoError::BadSignature)
}

/// One item to verify: key, message, signature.
pub type VerifyItem<'a> = (&'a PublicKey, &'a [u8], &'a Signature);

/// Verifies a batch on the calling thread; on failure, finds the first bad item by single checks.
pub fn verify_batch(items: &[VerifyItem<'_>]) -> Result<(), BatchFailure> {
    if items.is_empty() {
        return Ok(());
    }
    if items.len() == 1 {
        let (k, m, s) = items[0];
        return verify(k, m, s).map_err(|error| BatchFailure { index: 0, error });
    }
    let mut verifier = batch::Verifier::new();
    for (key, message, signature) in items {
        verifier.queue((
            VerificationKeyBytes::from(key.0),
            ed25519_consensus::Signature::from(signature.0),
            message,
        ));
    }
    if verifier.verify(rand::thread_rng()).is_ok() {
        VERIFIED.fetch_add(items.len() as u64, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    first_failure(items, 0)
}

fn first_failure(items: &[VerifyItem<'_>], offset: usize) -> Result<(), BatchFailure> {
    for (i, (k, m, s)) in items.iter().enumerate() {
        verify(k, m, s).map_err(|error| BatchFailure {
            index: offset + i,
            error,
        })?;
    }
    // The batch equation failed but every single check passed: impossible under ZIP 215 unless the
    // batch rejected a key that single verification also rejects; report the batch as a whole.
    Err(BatchFailure {
        index: offset,
        error: CryptoError::BadSignature,
    })
}

/// Below this many items a batch is verified on the calling thread only.
pub const PARALLEL_THRESHOLD: usize = 64;

/// Verifies a batch split across `threads` OS threads (0 = all available cores).
pub fn verify_parallel(items: &[VerifyItem<'_>], threads: usize) -> Result<(), BatchFailure> {
    let threads = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    };
    if threads <= 1 || items.len() < PARALLEL_THRESHOLD {
        return verify_batch(items);
    }
    let chunk = items.len().div_ceil(threads);
    let results: Vec<Result<(), BatchFailure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                scope.spawn(move || {
                    verify_batch(part).map_err(|f| BatchFailure {
                        index: f.index + n * chunk,
                        ..f
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verifier thread panicked"))
            .collect()
    });
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_reject_tampering() {
        let kp = Keypair::from_seed([7u8; 32]);
        let sig = kp.sign(b"hello");
        assert_eq!(verify(&kp.public(), b"hello", &sig), Ok(()));
        assert_eq!(
            verify(&kp.public(), b"hellO", &sig),
            Err(CryptoError::BadSignature)
        );
        let mut bad = sig;
        bad.0[5] ^= 1;
        assert_eq!(
            verify(&kp.public(), b"hello", &bad),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn batch_and_parallel_name_the_bad_item() {
        let keys: Vec<Keypair> = (0..200u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let msgs: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let items = |sigs: &[Signature]| -> Vec<(PublicKey, Vec<u8>, Signature)> {
            (0..200)
                .map(|i| (pubs[i], msgs[i].clone(), sigs[i]))
                .collect()
        };
        let good = items(&sigs);
        let refs: Vec<VerifyItem<'_>> = good.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
        assert_eq!(verify_batch(&refs), Ok(()));
        assert_eq!(verify_parallel(&refs, 2), Ok(()));
        sigs[137].0[0] ^= 0x40;
        let bad = items(&sigs);
        let refs: Vec<VerifyItem<'_>> = bad.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
        assert_eq!(verify_batch(&refs).unwrap_err().index, 137);
        assert_eq!(verify_parallel(&refs, 2).unwrap_err().index, 137);
        assert_eq!(verify_parallel(&refs, 3).unwrap_err().index, 137);
    }

    #[test]
    fn the_lookup_agrees_with_decompression() {
        let list = small_order_encodings();
        assert_eq!(list.len(), 14, "the 14 encodings of small-order points");
        let decompressed = |k: &[u8; 32]| {
            CompressedEdwardsY(*k)
                .decompress()
                .is_some_and(|p| p.is_small_order())
        };
        for k in list {
            assert!(decompressed(k));
        }
        // Real keys, and every encoding one bit away from a small-order one.
        for i in 0..200u8 {
            let k = Keypair::from_seed([i; 32]).public();
            assert_eq!(is_small_order(&k), decompressed(&k.0));
        }
        for k in list {
            for bit in 0..256 {
                let mut near = *k;
                near[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    is_small_order(&PublicKey(near)),
                    decompressed(&near),
                    "{}",
                    hex::encode(near)
                );
            }
        }
    }

    #[test]
    fn small_order_keys_are_recognized_and_forgeable_under_zip215() {
        // The identity (y = 1) and the point of order 2 (y = -1), and a real key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let real = Keypair::from_seed([3; 32]).public();
        assert!(is_small_order(&PublicKey(identity)));
        assert!(is_small_order(&PublicKey(minus_one)));
        assert!(!is_small_order(&real));
        // R = identity, S = 0: verifies for the identity key on any message — why the chain
        // refuses such keys as senders.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        for message in [&b"pay me"[..], b"anything at all"] {
            assert_eq!(
                verify(&PublicKey(identity), message, &Signature(forged)),
                Ok(())
            );
        }
        assert!(verify(&real, b"pay me", &Signature(forged)).is_err());
    }
}
