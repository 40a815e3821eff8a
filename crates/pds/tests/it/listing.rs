//! Cursors of `listRecords` and `listRepos` as the reference sends them (checklist #62, #128):
//! every non-empty page carries a cursor (the last rkey / DID), the last one included; the
//! empty page after it carries none.

use crate::harness::{create_account, create_post, nsid, test_pds};

#[tokio::test]
async fn checklist_128_list_records_cursor_on_every_non_empty_page() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let posts = nsid("app.bsky.feed.post");
    for i in 0..5 {
        create_post(&t.pds, &alice, &format!("p{i}"))
            .await
            .expect("create");
    }
    for reverse in [false, true] {
        let mut cursor: Option<String> = None;
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        loop {
            let page = t
                .pds
                .list_records(
                    &alice.repo(),
                    &posts,
                    Some(2),
                    cursor.as_deref(),
                    reverse,
                    None,
                )
                .await
                .expect("page");
            sizes.push(page.records.len());
            match (&page.cursor, page.records.last()) {
                (Some(c), Some(last)) => {
                    assert!(
                        last.uri.as_str().ends_with(&format!("/{c}")),
                        "cursor is the last rkey"
                    );
                }
                (None, None) => break,
                (c, l) => panic!("cursor {c:?} with last record {:?}", l.map(|r| &r.uri)),
            }
            all.extend(page.records.into_iter().map(|r| r.uri.as_str().to_owned()));
            cursor = page.cursor;
        }
        assert_eq!(sizes, vec![2, 2, 1, 0], "reverse={reverse}");
        let mut sorted = all.clone();
        sorted.sort();
        if !reverse {
            sorted.reverse();
        }
        assert_eq!(all, sorted, "rkey order, reverse={reverse}");
    }
}

#[tokio::test]
async fn checklist_62_128_list_repos_cursor_on_every_non_empty_page() {
    let t = test_pds().await;
    for name in ["carol", "alice", "bob"] {
        create_account(&t, name).await;
    }
    let p1 = t.pds.list_repos(Some(2), None).await.expect("p1");
    assert_eq!(p1.repos.len(), 2);
    assert!(
        p1.cursor
            .as_deref()
            .is_some_and(|c| c.ends_with(&format!("::{}", p1.repos[1].did.as_str()))),
        "cursor is <created_at>::<last DID>: {:?}",
        p1.cursor
    );
    let p2 = t
        .pds
        .list_repos(Some(2), p1.cursor.as_deref())
        .await
        .expect("p2");
    assert_eq!(p2.repos.len(), 1);
    assert_eq!(
        p2.cursor
            .as_deref()
            .and_then(|c| c.split_once("::"))
            .map(|(_, d)| d),
        Some(p2.repos[0].did.as_str()),
        "a short last page still has a cursor, as the reference"
    );
    let p3 = t
        .pds
        .list_repos(Some(2), p2.cursor.as_deref())
        .await
        .expect("p3");
    assert!(p3.repos.is_empty());
    assert!(p3.cursor.is_none(), "the empty page has no cursor");
    let all = t.pds.list_repos(None, None).await.expect("all");
    assert_eq!(all.repos.len(), 3);
    assert!(all.cursor.is_some());
}
