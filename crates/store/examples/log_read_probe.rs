//! Local probe (not committed): times the bulk read path alone and with hashing.
use std::time::Instant;

use gongzhi_domain::merkle::{self, Frontier};
use gongzhi_store::Db;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::args().nth(1).expect("url");
    let mode = std::env::args().nth(2).unwrap_or_else(|| "hash".into());
    let db = Db::connect(&url).await.expect("connect");
    let started = Instant::now();
    let mut batches = db.log_leaf_batches();
    let hash = mode == "hash";
    let n = tokio::task::spawn_blocking(move || {
        let mut frontier = Frontier::new();
        let mut n = 0u64;
        let mut bytes = 0usize;
        while let Some(b) = batches.blocking_next() {
            let b = b.expect("batch");
            for row in b.rows() {
                n += 1;
                bytes += row.canonical.len();
                if hash {
                    frontier.push_only(merkle::leaf_hash(row.canonical));
                }
            }
            batches.recycle(b);
        }
        eprintln!("bytes/row {}", bytes as f64 / n as f64);
        n
    })
    .await
    .expect("join");
    let secs = started.elapsed().as_secs_f64();
    println!("{mode}: {n} rows in {secs:.2} s = {:.0}/s", n as f64 / secs);
}
