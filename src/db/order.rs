//! The order in which a new connection tries the endpoints: as listed, or with
//! `load_balance_hosts=random` the hosts shuffled and then each host's addresses shuffled
//! (libpq 16's order), anew for every connection so that connections spread over the hosts.

use std::cell::Cell;

/// Endpoint indexes in the order to try them; `host_of[i]` is endpoint `i`'s host (a host's
/// endpoints are consecutive).
pub fn attempt_order(host_of: &[usize], random: bool) -> Vec<usize> {
    attempt_order_with(host_of, random, &mut next_random)
}

fn attempt_order_with(host_of: &[usize], random: bool, rng: &mut dyn FnMut() -> u64) -> Vec<usize> {
    let mut hosts: Vec<Vec<usize>> = Vec::new();
    for (i, &host) in host_of.iter().enumerate() {
        match hosts.last_mut() {
            Some(group) if host_of[group[0]] == host => group.push(i),
            _ => hosts.push(vec![i]),
        }
    }
    if random {
        shuffle(&mut hosts, rng);
        for group in &mut hosts {
            shuffle(group, rng);
        }
    }
    hosts.into_iter().flatten().collect()
}

/// Fisher-Yates.
fn shuffle<T>(items: &mut [T], rng: &mut dyn FnMut() -> u64) {
    for i in (1..items.len()).rev() {
        let j = (rng() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// Differs between workers and between runs: the spread over the hosts needs no more.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}

/// xorshift64*: not for secrets, only to spread connections.
fn next_random() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_unless_random() {
        assert_eq!(attempt_order(&[0, 0, 1, 2, 2], false), vec![0, 1, 2, 3, 4]);
        assert_eq!(attempt_order(&[], true), Vec::<usize>::new());
    }

    #[test]
    fn random_keeps_each_hosts_addresses_together_and_varies() {
        let host_of = [0, 0, 1, 2, 2, 2];
        let mut firsts = [0usize; 3];
        for _ in 0..300 {
            let order = attempt_order(&host_of, true);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2, 3, 4, 5]);
            // each host's endpoints are consecutive in the order
            let hosts: Vec<usize> = order.iter().map(|&i| host_of[i]).collect();
            let mut seen = Vec::new();
            for h in hosts {
                if seen.last() != Some(&h) {
                    assert!(!seen.contains(&h), "host {h} split in {order:?}");
                    seen.push(h);
                }
            }
            firsts[host_of[order[0]]] += 1;
        }
        // every host comes first sometimes (each about a third of the time)
        assert!(firsts.iter().all(|&n| n > 50), "{firsts:?}");
        // and a fixed source gives a fixed order
        let mut zero = || 0u64;
        assert_eq!(
            attempt_order_with(&host_of, true, &mut zero),
            attempt_order_with(&host_of, true, &mut || 0u64)
        );
        assert_ne!(
            attempt_order_with(&host_of, true, &mut zero),
            vec![0, 1, 2, 3, 4, 5]
        );
    }
}
