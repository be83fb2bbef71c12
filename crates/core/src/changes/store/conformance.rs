//! What every [`ChangeStore`] does, as one suite that each store's tests run on a fresh store:
//! heads created once and replaced only from the generation read, parts written once and read
//! back byte for byte, snapshots listed and deleted per scope, missing things answered `None`.

use super::{ChangeStore, Generation, StoreError};

/// Run the whole suite on `store`, which must hold nothing yet.
pub async fn conformance(store: &dyn ChangeStore) {
    assert!(!store.place().is_empty(), "a store says where it is");
    heads_are_replaced_only_from_the_generation_read(store).await;
    of_writers_from_one_generation_exactly_one_wins(store).await;
    parts_are_written_once_and_read_back_exactly(store).await;
    snapshots_are_listed_and_deleted_per_scope(store).await;
}

async fn heads_are_replaced_only_from_the_generation_read(s: &dyn ChangeStore) {
    assert_eq!(s.read_head("h1").await, Ok(None));
    let g1 = s
        .write_head("h1", b"one", Generation::ABSENT)
        .await
        .unwrap();
    assert_ne!(g1, Generation::ABSENT);
    assert_eq!(
        s.write_head("h1", b"other", Generation::ABSENT).await,
        Err(StoreError::Conflict),
        "a head that exists is not created again"
    );
    assert_eq!(s.read_head("h1").await, Ok(Some((g1, b"one".to_vec()))));
    let g2 = s.write_head("h1", b"two", g1).await.unwrap();
    assert_ne!(g2, g1);
    assert_eq!(
        s.write_head("h1", b"stale", g1).await,
        Err(StoreError::Conflict),
        "a write from a generation replaced since fails"
    );
    assert_eq!(s.read_head("h1").await, Ok(Some((g2, b"two".to_vec()))));
    // Another scope is another head, even one whose name extends this one's.
    assert_eq!(s.read_head("h12").await, Ok(None));
    assert_eq!(
        s.write_head("h12", b"x", g2).await,
        Err(StoreError::Conflict),
        "a head that does not exist is not replaced"
    );
    assert_eq!(s.read_head("h12").await, Ok(None));
    // Every byte value, and the empty head, come back as written.
    let all: Vec<u8> = (0..=255).collect();
    let g = s.write_head("h12", &all, Generation::ABSENT).await.unwrap();
    assert_eq!(s.read_head("h12").await, Ok(Some((g, all))));
    let g = s.write_head("h12", b"", g).await.unwrap();
    assert_eq!(s.read_head("h12").await, Ok(Some((g, Vec::new()))));
    assert_eq!(s.read_head("h1").await, Ok(Some((g2, b"two".to_vec()))));
}

async fn of_writers_from_one_generation_exactly_one_wins(s: &dyn ChangeStore) {
    let base = s
        .write_head("race", b"base", Generation::ABSENT)
        .await
        .unwrap();
    let bodies: Vec<Vec<u8>> = (0..6).map(|i| format!("writer {i}").into_bytes()).collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| s.write_head("race", b, base))).await;
    let won: Vec<(usize, Generation)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Ok(g) => Some((i, *g)),
            Err(e) => {
                assert_eq!(*e, StoreError::Conflict, "writer {i}");
                None
            }
        })
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let (winner, generation) = won[0];
    assert_eq!(
        s.read_head("race").await,
        Ok(Some((generation, bodies[winner].clone())))
    );
}

/// Bytes of every value in an order no store could make up (a part is binary).
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ salt)
        .collect()
}

async fn parts_are_written_once_and_read_back_exactly(s: &dyn ChangeStore) {
    let big = pattern(3 << 20, 7);
    s.put_part("p1", "run-1", 0, big.clone()).await.unwrap();
    s.put_part("p1", "run-1", 1, b"p1".to_vec()).await.unwrap();
    s.put_part("p1", "run-1", 7, Vec::new()).await.unwrap();
    assert_eq!(s.get_part("p1", "run-1", 0).await, Ok(Some(big)));
    assert_eq!(s.get_part("p1", "run-1", 1).await, Ok(Some(b"p1".to_vec())));
    assert_eq!(s.get_part("p1", "run-1", 7).await, Ok(Some(Vec::new())));
    for again in [b"again".to_vec(), b"p1".to_vec()] {
        let err = s.put_part("p1", "run-1", 1, again).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("written once")),
            "a part is written once, even with the same bytes: {err:?}"
        );
    }
    assert_eq!(s.get_part("p1", "run-1", 1).await, Ok(Some(b"p1".to_vec())));
    // Missing parts, snapshots and scopes are None, not errors.
    assert_eq!(s.get_part("p1", "run-1", 2).await, Ok(None));
    assert_eq!(s.get_part("p1", "run-9", 0).await, Ok(None));
    assert_eq!(s.get_part("p9", "run-1", 0).await, Ok(None));
}

async fn snapshots_are_listed_and_deleted_per_scope(s: &dyn ChangeStore) {
    assert_eq!(s.snapshots("l1").await, Ok(vec![]));
    s.put_part("l1", "run-b", 0, b"b0".to_vec()).await.unwrap();
    s.put_part("l1", "run-a", 0, b"a0".to_vec()).await.unwrap();
    s.put_part("l1", "run-a", 1, b"a1".to_vec()).await.unwrap();
    s.put_part("l12", "run-c", 0, b"c0".to_vec()).await.unwrap();
    s.write_head("l1", b"head", Generation::ABSENT)
        .await
        .unwrap();
    let listed = |names: &[&str]| Ok(names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(s.snapshots("l1").await, listed(&["run-a", "run-b"]));
    assert_eq!(s.snapshots("l12").await, listed(&["run-c"]));
    s.delete_snapshot("l1", "run-a").await.unwrap();
    assert_eq!(s.get_part("l1", "run-a", 0).await, Ok(None));
    assert_eq!(s.get_part("l1", "run-a", 1).await, Ok(None));
    assert_eq!(s.snapshots("l1").await, listed(&["run-b"]));
    assert_eq!(s.get_part("l1", "run-b", 0).await, Ok(Some(b"b0".to_vec())));
    assert_eq!(s.snapshots("l12").await, listed(&["run-c"]));
    // Deleting what is gone already is no error (a retried clean-up), and leaves the head.
    s.delete_snapshot("l1", "run-a").await.unwrap();
    s.delete_snapshot("l1", "never").await.unwrap();
    assert!(matches!(s.read_head("l1").await, Ok(Some((_, h))) if h == b"head"));
}
