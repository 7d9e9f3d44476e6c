use tablesafe_engine::{Direction, RangeRequest};
use tablesafe_proto::model::*;

use crate::common::*;

fn key(a: &str, b: i64) -> PrimaryKey {
    PrimaryKey::new([("a", PkValue::String(a.into())), ("b", PkValue::Integer(b))])
}

fn scan(f: &Fixture, direction: Direction, start: PrimaryKey, end: PrimaryKey, limit: Option<i32>) -> Vec<PrimaryKey> {
    let mut out = Vec::new();
    let mut start = start;
    loop {
        let page = f
            .engine
            .get_range(&RangeRequest {
                table: "t".into(),
                direction,
                start: start.clone(),
                end: end.clone(),
                limit,
                read: latest(),
            })
            .unwrap();
        out.extend(page.rows.into_iter().map(|r| r.primary_key));
        match page.next_start {
            Some(next) => start = next,
            None => return out,
        }
    }
}

#[test]
fn paged_scans_see_every_row_once_in_order_both_ways() {
    let f = Fixture::new();
    create(
        &f.engine,
        "t",
        pk_schema(&[("a", PrimaryKeyType::String), ("b", PrimaryKeyType::Integer)]),
        TableOptions::default(),
    );
    let mut expected = Vec::new();
    for a in ["", "a", "a\0", "ab", "b"] {
        for b in [i64::MIN, -1, 0, 1, i64::MAX] {
            put(&f.engine, "t", key(a, b), vec![Cell::put("v", Value::Integer(b))]);
            expected.push(key(a, b));
        }
    }
    let min = PrimaryKey::new([("a", PkValue::InfMin), ("b", PkValue::InfMin)]);
    let max = PrimaryKey::new([("a", PkValue::InfMax), ("b", PkValue::InfMax)]);
    assert_eq!(scan(&f, Direction::Forward, min.clone(), max.clone(), Some(3)), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(scan(&f, Direction::Backward, max.clone(), min.clone(), Some(4)), reversed);
    // Sentinels inside a key bound a prefix.
    let a_min = PrimaryKey::new([("a", PkValue::String("a".into())), ("b", PkValue::InfMin)]);
    let a_max = PrimaryKey::new([("a", PkValue::String("a".into())), ("b", PkValue::InfMax)]);
    assert_eq!(scan(&f, Direction::Forward, a_min.clone(), a_max.clone(), None), expected[5..10].to_vec());
    assert_eq!(
        scan(&f, Direction::Backward, a_max, a_min, None),
        expected[5..10].iter().rev().cloned().collect::<Vec<_>>()
    );
    // Exact keys: start inclusive, end exclusive.
    assert_eq!(scan(&f, Direction::Forward, key("a", 0), key("ab", 0), None), expected[7..17].to_vec());
    assert_eq!(
        scan(&f, Direction::Backward, key("ab", 0), key("a", 0), None),
        expected[8..18].iter().rev().cloned().collect::<Vec<_>>()
    );
    let bad = f.engine.get_range(&RangeRequest {
        table: "t".into(),
        direction: Direction::Forward,
        start: max,
        end: min,
        limit: None,
        read: latest(),
    });
    assert!(bad.is_err());
}

#[test]
fn pages_stop_at_five_thousand_rows() {
    let f = Fixture::new();
    create(
        &f.engine,
        "t",
        pk_schema(&[("a", PrimaryKeyType::String), ("b", PrimaryKeyType::Integer)]),
        TableOptions::default(),
    );
    let writes: Vec<_> = (0..6000)
        .map(|i| tablesafe_engine::RowWrite {
            table: "t".into(),
            change: tablesafe_engine::RowChange::Put(Row { primary_key: key("k", i), ..Row::default() }),
            condition: Condition::default(),
            return_content: Default::default(),
        })
        .collect();
    for chunk in writes.chunks(200) {
        assert!(f.engine.write_rows(chunk.to_vec()).iter().all(Result::is_ok));
    }
    let min = PrimaryKey::new([("a", PkValue::InfMin), ("b", PkValue::InfMin)]);
    let max = PrimaryKey::new([("a", PkValue::InfMax), ("b", PkValue::InfMax)]);
    let page = f
        .engine
        .get_range(&RangeRequest {
            table: "t".into(),
            direction: Direction::Forward,
            start: min,
            end: max,
            limit: None,
            read: latest(),
        })
        .unwrap();
    assert_eq!(page.rows.len(), 5000);
    assert_eq!(page.next_start, Some(key("k", 5000)));
    let points = f.engine.split_points("t", 20_000).unwrap();
    assert!(!points.is_empty());
    assert!(points.windows(2).all(|w| w[0].cmp_values(&w[1]) == std::cmp::Ordering::Less));
}

#[test]
fn split_points_of_a_flushed_table_come_from_size_estimates_and_cut_it_evenly() {
    let f = Fixture::new();
    for name in ["before", "big", "after"] {
        create(&f.engine, name, pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    }
    let value = |id: i64| vec![Cell::put("v", Value::String(format!("{id:>100}")))];
    for id in 0..20_000 {
        put(&f.engine, "big", int_pk(id), value(id));
    }
    for id in 0..3_000 {
        put(&f.engine, "before", int_pk(id), value(id));
        put(&f.engine, "after", int_pk(id), value(id));
    }
    f.engine.flush().unwrap();
    let points = f.engine.split_points("big", 200_000).unwrap();
    let ids: Vec<i64> = points
        .iter()
        .map(|p| match p.columns[0].value {
            PkValue::Integer(id) => id,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert!(ids.len() >= 5, "about 2.5 MB at 200 KB a range: {ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > 0 && *ids.last().unwrap() < 20_000, "{ids:?}");
    // Even enough: no range holds more than three times its share of the rows.
    let share = 20_000 / (ids.len() as i64 + 1);
    let bounds: Vec<i64> = std::iter::once(0).chain(ids.iter().copied()).chain(std::iter::once(20_000)).collect();
    assert!(bounds.windows(2).all(|w| w[1] - w[0] <= 3 * share), "{ids:?}");
}

#[test]
fn row_estimates_follow_each_tables_share_of_the_data() {
    let f = Fixture::new();
    for name in ["big", "small"] {
        create(&f.engine, name, pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    }
    let value = || vec![Cell::put("v", Value::String("x".repeat(100)))];
    for id in 0..20_000 {
        put(&f.engine, "big", int_pk(id), value());
    }
    for id in 0..2_000 {
        put(&f.engine, "small", int_pk(id), value());
    }
    f.engine.flush().unwrap();
    let big = f.engine.estimate_rows("big").unwrap().unwrap();
    let small = f.engine.estimate_rows("small").unwrap().unwrap();
    assert!((10_000..=40_000).contains(&big), "{big}");
    assert!((500..=6_000).contains(&small), "{small}");
    assert!(f.engine.estimate_rows("missing").is_err());
}
