//! The megaflow classifier against its slow, obvious twin: a linear scan over
//! the installed (mask, masked key) pairs.

use proptest::prelude::*;
use rvs_datapath::{FlowKey, FlowMask, FlowRef, MegaflowCache, FLOW_WORDS};

/// Values are drawn from small sets so that random keys collide often.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        (0u64..4),
        (0u64..4).prop_map(|v| v << 40),
        any::<u64>(),
    ]
}

fn key() -> impl Strategy<Value = FlowKey> {
    proptest::array::uniform8(word()).prop_map(|words| FlowKey { words })
}

fn mask() -> impl Strategy<Value = FlowMask> {
    proptest::array::uniform8(prop_oneof![
        3 => Just(0u64),
        2 => Just(u64::MAX),
        1 => Just(0xffff_0000_0000_0000u64),
        1 => Just(0x0000_0000_0000_00ffu64),
        1 => any::<u64>(),
    ])
    .prop_map(|words| FlowMask { words })
}

/// A lookup key: either random, or a flow's key with bits outside its mask
/// scrambled (so that it matches that flow).
fn probe(
    flows: &[(FlowMask, FlowKey)],
    pick: usize,
    noise: [u64; FLOW_WORDS],
    raw: FlowKey,
) -> FlowKey {
    if flows.is_empty() || pick % 3 == 0 {
        return raw;
    }
    let (m, k) = flows[pick % flows.len()];
    FlowKey {
        words: std::array::from_fn(|i| k.words[i] | (noise[i] & !m.words[i])),
    }
}

fn matching(flows: &[(FlowMask, FlowKey)], key: &FlowKey) -> Vec<usize> {
    flows
        .iter()
        .enumerate()
        .filter(|(_, (m, k))| (0..FLOW_WORDS).all(|i| key.words[i] & m.words[i] == k.words[i]))
        .map(|(i, _)| i)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn classifier_agrees_with_linear_scan(
        masks in proptest::collection::vec(mask(), 1..6),
        raw_flows in proptest::collection::vec((0usize..6, key()), 0..60),
        probes in proptest::collection::vec((any::<usize>(), proptest::array::uniform8(any::<u64>()), key()), 1..64),
        deletes in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut cache = MegaflowCache::new(1 << 20);
        // Oracle: installed (mask, masked key) with the ref the cache gave.
        let mut flows: Vec<(FlowMask, FlowKey)> = Vec::new();
        let mut refs: Vec<FlowRef> = Vec::new();
        for (mi, k) in raw_flows {
            let m = masks[mi % masks.len()];
            let mk = k.masked(&m);
            match cache.insert(&k, &m, &[]) {
                Ok(r) => {
                    prop_assert!(!flows.contains(&(m, mk)), "duplicate accepted");
                    flows.push((m, mk));
                    refs.push(r);
                }
                Err(rvs_datapath::MegaflowError::Exists) => {
                    prop_assert!(flows.contains(&(m, mk)), "spurious Exists");
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        for d in deletes {
            if flows.is_empty() { break; }
            let i = d % flows.len();
            prop_assert!(cache.remove(refs[i]).is_some());
            prop_assert!(cache.get(refs[i]).is_none(), "stale ref resolves");
            flows.remove(i);
            refs.remove(i);
        }
        prop_assert_eq!(cache.len(), flows.len());

        let keys: Vec<FlowKey> = probes.iter().map(|(p, n, r)| probe(&flows, *p, *n, *r)).collect();
        // One at a time.
        let mut singles = Vec::new();
        for k in &keys {
            let want = matching(&flows, k);
            let got = cache.lookup(k);
            match got {
                None => prop_assert!(want.is_empty(), "missed {:?}: matches {:?}", k, want),
                Some(r) => {
                    let i = refs.iter().position(|x| *x == r);
                    prop_assert!(i.is_some(), "returned a ref that is not installed");
                    let i = i.unwrap();
                    prop_assert!(want.contains(&i), "returned flow {} which does not match", i);
                    if want.len() == 1 {
                        prop_assert_eq!(i, want[0]);
                    }
                }
            }
            singles.push(got);
        }
        // In batches of up to 32: the same answers.
        cache.rank_subtables();
        for (chunk, expect) in keys.chunks(32).zip(singles.chunks(32)) {
            let mut out = vec![FlowRef::NONE; chunk.len()];
            let all = if chunk.len() == 32 { u32::MAX } else { (1u32 << chunk.len()) - 1 };
            let left = cache.lookup_batch(chunk, &mut out, all);
            for (i, e) in expect.iter().enumerate() {
                match e {
                    None => {
                        prop_assert!(left & (1 << i) != 0);
                        prop_assert_eq!(out[i], FlowRef::NONE);
                    }
                    Some(_) => {
                        prop_assert!(left & (1 << i) == 0);
                        // Overlapping flows may answer differently after a
                        // re-ranking; any answer must still match.
                        let idx = refs.iter().position(|x| *x == out[i]).unwrap();
                        prop_assert!(matching(&flows, &chunk[i]).contains(&idx));
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, FlowKey),
    Remove(usize),
    Lookup(usize, [u64; FLOW_WORDS], FlowKey),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..4, key()).prop_map(|(m, k)| Op::Insert(m, k)),
        2 => any::<usize>().prop_map(Op::Remove),
        3 => (any::<usize>(), proptest::array::uniform8(any::<u64>()), key())
            .prop_map(|(p, n, r)| Op::Lookup(p, n, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Inserts, removes (slots and subtables are reused) and lookups
    /// interleaved, checked against the model after every step.
    #[test]
    fn interleaved_operations_match_the_model(
        masks in proptest::collection::vec(mask(), 4),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut cache = MegaflowCache::new(1 << 20);
        let mut flows: Vec<(FlowMask, FlowKey)> = Vec::new();
        let mut refs: Vec<FlowRef> = Vec::new();
        let mut dead: Vec<FlowRef> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(mi, k) => {
                    let m = masks[mi];
                    let mk = k.masked(&m);
                    let exists = flows.contains(&(m, mk));
                    match cache.insert(&k, &m, &[]) {
                        Ok(r) => {
                            prop_assert!(!exists);
                            prop_assert!(!refs.contains(&r) && !dead.contains(&r), "reused a ref");
                            flows.push((m, mk));
                            refs.push(r);
                        }
                        Err(e) => prop_assert!(exists, "{}", e),
                    }
                }
                Op::Remove(i) if !flows.is_empty() => {
                    let i = i % flows.len();
                    prop_assert!(cache.remove(refs[i]).is_some());
                    flows.remove(i);
                    dead.push(refs.remove(i));
                }
                Op::Remove(_) => {}
                Op::Lookup(p, n, raw) => {
                    let k = probe(&flows, p, n, raw);
                    let want = matching(&flows, &k);
                    match cache.lookup(&k) {
                        None => prop_assert!(want.is_empty()),
                        Some(r) => {
                            let i = refs.iter().position(|x| *x == r);
                            prop_assert!(i.is_some_and(|i| want.contains(&i)));
                        }
                    }
                }
            }
            prop_assert_eq!(cache.len(), flows.len());
            for d in &dead {
                prop_assert!(cache.get(*d).is_none(), "a removed flow's ref resolves");
            }
        }
    }
}
