//! Fails early, with a message that says what to do, when the RocksDB library that
//! `.cargo/config.toml` (or the environment) points the rocksdb crate at is not there. Without this
//! the link fails at the very end of the build with a bare "cannot find -lrocksdb".

fn main() {
    println!("cargo:rerun-if-env-changed=ROCKSDB_LIB_DIR");
    let Some(dir) = std::env::var_os("ROCKSDB_LIB_DIR") else {
        panic!(
            "ROCKSDB_LIB_DIR is not set, so the rocksdb crate compiles RocksDB's C++ from source \
             (~30 minutes). Build from inside the repository (its .cargo/config.toml sets it) or \
             export ROCKSDB_LIB_DIR=/usr/lib/$(gcc -print-multiarch) after \
             `apt-get install librocksdb-dev`."
        );
    };
    let dir = std::path::PathBuf::from(dir);
    let found = ["librocksdb.so", "librocksdb.a"]
        .iter()
        .any(|f| dir.join(f).exists());
    if !found {
        panic!(
            "RocksDB is not installed in ROCKSDB_LIB_DIR={}: install Debian's librocksdb-dev \
             (apt-get install librocksdb-dev), or export ROCKSDB_LIB_DIR=<directory of \
             librocksdb.so> (on another architecture: /usr/lib/$(gcc -print-multiarch)).",
            dir.display()
        );
    }
}
