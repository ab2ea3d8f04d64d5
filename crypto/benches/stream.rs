//! Criterion benchmarks of the hot paths: STREAM chunk batches (64 MiB, in a one-thread rayon
//! pool and in the default pool, with and without the chunk-tree hashes), the header for 1 and
//! 100 recipients, and Argon2id at the default parameters.
//!
//! ```text
//! cargo bench -p sealpost-crypto --bench stream
//! cargo bench -p sealpost-crypto --bench stream -- encrypt    # one group only
//! ```
//!
//! Throughput is reported in GiB/s of plaintext. The whole-file comparison with `rage` is
//! `client/benches/file_throughput.rs`; results and discussion are in `docs/PERFORMANCE.md`.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
    use rayon::ThreadPool;
    use sealpost_crypto::keyblob::{KdfParams, argon2id};
    use sealpost_crypto::recipient::{MessageId, RecipientPublicKey, RecipientSecretKey, seal_header};
    use sealpost_crypto::secrets::FileKey;
    use sealpost_crypto::stream::{PayloadDecryptor, PayloadEncryptor};

    /// The buffer every STREAM benchmark encrypts or decrypts.
    const BUFFER_LEN: usize = 64 << 20;

    type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

    fn rng() -> Rng {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    /// Deterministic incompressible-looking bytes (xorshift64), much faster than the OS RNG.
    fn filler(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(&state.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A one-thread pool and the default pool (one thread per CPU), with their labels.
    fn pools() -> Vec<(usize, ThreadPool)> {
        [1, 0]
            .into_iter()
            .map(|threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a rayon pool");
                (pool.current_num_threads(), pool)
            })
            .collect()
    }

    fn stream_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
        let mut group = c.benchmark_group(name);
        group
            .throughput(Throughput::Bytes(BUFFER_LEN as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group
    }

    fn stream(c: &mut Criterion) {
        let key = FileKey::from_bytes([0x42; 16]);
        let nonce = [7u8; 16];
        let plaintext = filler(BUFFER_LEN);
        let encryptor = PayloadEncryptor::new(&key, nonce, BUFFER_LEN as u64);
        let layout = encryptor.layout();
        let mut ciphertext = vec![0u8; (layout.payload_len() - nonce.len() as u64) as usize];
        encryptor
            .encrypt_chunks(0, &plaintext, &mut ciphertext)
            .expect("encrypt");
        let decryptor = PayloadDecryptor::new(&key, &nonce, layout.payload_len()).expect("decryptor");
        let mut decrypted = vec![0u8; BUFFER_LEN];
        let pools = pools();

        let mut out = vec![0u8; ciphertext.len()];
        for hashed in [false, true] {
            let name = if hashed {
                "encrypt_chunks_hashed"
            } else {
                "encrypt_chunks"
            };
            let mut group = stream_group(c, name);
            for (threads, pool) in &pools {
                group.bench_function(BenchmarkId::new("threads", threads), |b| {
                    b.iter(|| {
                        pool.install(|| {
                            if hashed {
                                black_box(
                                    encryptor
                                        .encrypt_chunks_hashed(0, &plaintext, &mut out)
                                        .expect("encrypt"),
                                );
                            } else {
                                encryptor.encrypt_chunks(0, &plaintext, &mut out).expect("encrypt");
                            }
                        });
                        black_box(&out);
                    })
                });
            }
            group.finish();
        }

        for hashed in [false, true] {
            let name = if hashed {
                "decrypt_chunks_hashed"
            } else {
                "decrypt_chunks"
            };
            let mut group = stream_group(c, name);
            for (threads, pool) in &pools {
                group.bench_function(BenchmarkId::new("threads", threads), |b| {
                    b.iter(|| {
                        pool.install(|| {
                            if hashed {
                                black_box(
                                    decryptor
                                        .decrypt_chunks_hashed(0, &ciphertext, &mut decrypted)
                                        .expect("decrypt"),
                                );
                            } else {
                                decryptor
                                    .decrypt_chunks(0, &ciphertext, &mut decrypted)
                                    .expect("decrypt");
                            }
                        });
                        black_box(&decrypted);
                    })
                });
            }
            group.finish();
        }
        assert!(decrypted == plaintext, "the benchmark decrypts what it encrypted");
    }

    fn header(c: &mut Criterion) {
        let mut rng = rng();
        let file_key = FileKey::random(&mut rng);
        let msg_id = MessageId::random(&mut rng);
        let mut group = c.benchmark_group("seal_header");
        group.sample_size(20).measurement_time(Duration::from_secs(3));
        for count in [1usize, 100] {
            let recipients: Vec<RecipientPublicKey> = (0..count)
                .map(|_| RecipientSecretKey::generate(&mut rng).public())
                .collect();
            group.bench_function(BenchmarkId::new("recipients", count), |b| {
                b.iter(|| seal_header(&file_key, &msg_id, &recipients, Vec::new(), &mut rng).expect("header"))
            });
        }
        group.finish();
    }

    fn kdf(c: &mut Criterion) {
        let mut group = c.benchmark_group("argon2id");
        group.sample_size(10).measurement_time(Duration::from_secs(5));
        let params = KdfParams::DEFAULT;
        let id = format!("m={}MiB,t={},p={}", params.m_kib / 1024, params.t, params.p);
        group.bench_function(id, |b| {
            b.iter(|| argon2id(black_box(b"correct horse battery staple"), &[9u8; 16], params).expect("argon2id"))
        });
        group.finish();
    }

    pub fn main() {
        let mut c = Criterion::default().configure_from_args();
        stream(&mut c);
        header(&mut c);
        kdf(&mut c);
        c.final_summary();
    }
}
