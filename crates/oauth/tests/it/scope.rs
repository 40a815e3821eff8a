//! Tests of `oauth::scope`: the general scope string syntax, each permission resource, canonical
//! forms, and the access questions of `ScopeSet` with `atproto` and the transitional scopes
//! (checklist #164-#169).
//!
//! The spec examples are copied verbatim from `specs/permission` (sections named in comments)
//! and `specs/oauth` ("Authorization Scopes", "Transitional Scopes").

use oauth::scope::{
    AccountAction, AccountAttr, Audience, IdentityAttr, MimePattern, NsidPattern, Permission,
    RepoAction, Scope, ScopeError, ScopeSet, ScopeSyntax, ServiceRef, Transition,
};
use syntax::Nsid;

fn nsid(s: &str) -> Nsid {
    s.parse().unwrap()
}

fn perm(s: &str) -> Permission {
    Permission::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

const APPVIEW: &str = "did:web:api.bsky.app#bsky_appview";
const CHAT: &str = "did:web:api.bsky.chat#bsky_chat";

// ---------------------------------------------------------------------------------------------
// Spec examples (checklist #166)
// ---------------------------------------------------------------------------------------------

/// `specs/permission`, "Resource Types" (the example blocks of `repo`, `rpc`, `blob`, `account`,
/// `identity`), "Scope String Syntax" (the list of syntactically and semantically valid strings)
/// and "Permission Sets" (the `include:` example).
const SPEC_VALID: &[&str] = &[
    // Resource Types / repo
    "repo:app.example.profile",
    "repo:app.example.profile?action=create&action=update&action=delete",
    "repo?collection=app.example.profile&collection=app.example.post",
    "repo:*",
    "repo:*?action=delete",
    // Resource Types / rpc
    "rpc:app.example.moderation.createReport?aud=*",
    "rpc?lxm=*&aud=did:web:api.example.com%23svc_appview",
    // Resource Types / blob
    "blob:*/*",
    "blob?accept=video/*&accept=text/html",
    // Resource Types / account
    "account:email",
    "account:repo?action=manage",
    // Resource Types / identity
    "identity:handle",
    // Scope String Syntax: valid
    "identity:*",
    "identity:*?",
    "rpc?lxm=*&aud=did:web:api.example.com%23svc_appview",
    "blob?accept=video/*&accept=text/html",
    "repo:app.example.profile?action=create&action=update&action=delete",
    "include:app.example.authFull?aud=did:web:api.example.com%23svc_chat",
    // Scope String Syntax: the alternative form of account:repo?action=manage
    "account?action=manage&attr=repo",
    // Permission Sets
    "include:com.example.authBasicFeatures?aud=did:web:api.example.com%23svc_appview",
];

/// `specs/permission`, "Scope String Syntax": strings that match the general syntax but have no
/// valid semantics.
const SPEC_SYNTAX_ONLY: &[&str] = &[
    "resource",
    "resource:positional?key=val",
    "resource:positional&thing?key=val",
    "service:did:web:com.example#type?key=val",
    "resource:",
    "resource:?",
    "resource:&",
    "resource?",
];

/// `specs/permission`, "Scope String Syntax": strings that do not match the general syntax.
const SPEC_NOT_SYNTAX: &[&str] = &["resource:positional?key=québec", "emoji:☺️"];

#[test]
fn checklist_166_spec_valid_examples_parse() {
    for s in SPEC_VALID {
        assert!(ScopeSyntax::parse(s).is_ok(), "{s:?} general syntax");
        let p = perm(s);
        // Every valid example is also accepted inside a scope set as a permission.
        let set = ScopeSet::parse(s);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![&Scope::Permission(p)]);
    }
}

#[test]
fn checklist_166_spec_syntax_only_examples() {
    for s in SPEC_SYNTAX_ONLY {
        assert!(
            ScopeSyntax::parse(s).is_ok(),
            "{s:?} matches the general syntax"
        );
        assert!(Permission::parse(s).is_err(), "{s:?} is no permission");
        let set = ScopeSet::parse(&format!("atproto {s}"));
        assert!(set.permissions().next().is_none(), "{s:?}");
    }
}

#[test]
fn checklist_166_spec_not_syntax_examples() {
    for s in SPEC_NOT_SYNTAX {
        assert!(
            matches!(ScopeSyntax::parse(s), Err(ScopeError::InvalidChar { .. })),
            "{s:?}"
        );
        assert!(Permission::parse(s).is_err(), "{s:?}");
        assert!(matches!(Scope::parse(s), Scope::Invalid { .. }), "{s:?}");
    }
}

#[test]
fn checklist_166_spec_examples_mean_what_the_spec_says() {
    assert_eq!(
        perm("repo:app.example.profile"),
        Permission::Repo {
            collections: vec![NsidPattern::Nsid(nsid("app.example.profile"))],
            actions: RepoAction::ALL.to_vec(),
        }
    );
    // "same as above, with actions being explicit"
    assert_eq!(
        perm("repo:app.example.profile?action=create&action=update&action=delete"),
        perm("repo:app.example.profile")
    );
    assert_eq!(
        perm("repo?collection=app.example.profile&collection=app.example.post"),
        Permission::Repo {
            collections: vec![
                NsidPattern::Nsid(nsid("app.example.post")),
                NsidPattern::Nsid(nsid("app.example.profile")),
            ],
            actions: RepoAction::ALL.to_vec(),
        }
    );
    assert_eq!(
        perm("repo:*?action=delete"),
        Permission::Repo {
            collections: vec![NsidPattern::Any],
            actions: vec![RepoAction::Delete],
        }
    );
    let Permission::Rpc { lxm, aud } = perm("rpc?lxm=*&aud=did:web:api.example.com%23svc_appview")
    else {
        panic!("rpc");
    };
    assert_eq!(lxm, vec![NsidPattern::Any]);
    assert_eq!(aud.to_string(), "did:web:api.example.com#svc_appview");
    assert_eq!(
        perm("rpc:app.example.moderation.createReport?aud=*"),
        Permission::Rpc {
            lxm: vec![NsidPattern::Nsid(nsid(
                "app.example.moderation.createReport"
            ))],
            aud: Audience::Any,
        }
    );
    assert_eq!(
        perm("blob?accept=video/*&accept=text/html"),
        Permission::Blob {
            accept: vec![
                MimePattern::Type("video".into()),
                MimePattern::Exact("text/html".into())
            ]
        }
    );
    assert_eq!(
        perm("blob:*/*"),
        Permission::Blob {
            accept: vec![MimePattern::Any]
        }
    );
    // account: action defaults to read.
    assert_eq!(
        perm("account:email"),
        Permission::Account {
            attr: AccountAttr::Email,
            action: AccountAction::Read
        }
    );
    // "the same permission could be represented as account?action=manage&attr=repo"
    assert_eq!(
        perm("account?action=manage&attr=repo"),
        perm("account:repo?action=manage")
    );
    assert_eq!(
        perm("account:repo?action=manage"),
        Permission::Account {
            attr: AccountAttr::Repo,
            action: AccountAction::Manage
        }
    );
    assert_eq!(
        perm("identity:*?"),
        Permission::Identity {
            attr: IdentityAttr::Any
        }
    );
    let Permission::Include { nsid: n, aud } =
        perm("include:app.example.authFull?aud=did:web:api.example.com%23svc_chat")
    else {
        panic!("include");
    };
    assert_eq!(n, nsid("app.example.authFull"));
    let aud = aud.unwrap();
    assert_eq!(aud.did().as_str(), "did:web:api.example.com");
    assert_eq!(aud.service(), "svc_chat");
}

#[test]
fn checklist_166_general_syntax_split() {
    // (input, resource, positional, params)
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &str, Option<&str>, &[(&str, &str)])] = &[
        ("resource", "resource", None, &[]),
        ("resource?", "resource", None, &[]),
        ("resource:", "resource", Some(""), &[]),
        ("resource:?", "resource", Some(""), &[]),
        ("resource:&", "resource", Some("&"), &[]),
        (
            "resource:positional&thing?key=val",
            "resource",
            Some("positional&thing"),
            &[("key", "val")],
        ),
        (
            "service:did:web:com.example#type?key=val",
            "service",
            Some("did:web:com.example#type"),
            &[("key", "val")],
        ),
        // A ':' after '?' belongs to the parameters: no positional part.
        (
            "rpc?lxm=*&aud=did:web:api.example.com%23svc_appview",
            "rpc",
            None,
            &[("lxm", "*"), ("aud", "did:web:api.example.com#svc_appview")],
        ),
        // Only the first '?' and each parameter's first '=' are syntax.
        (
            "rpc:foo.bar?aud=did:foo:bar?lxm=bar.baz",
            "rpc",
            Some("foo.bar"),
            &[("aud", "did:foo:bar?lxm=bar.baz")],
        ),
        ("a:b?k=v=w", "a", Some("b"), &[("k", "v=w")]),
        // Percent-decoding of positional part, names and values; '+' stays a plus.
        (
            "x:my%20pos%3Fx?k%65y=a%26b+c",
            "x",
            Some("my pos?x"),
            &[("key", "a&b+c")],
        ),
        ("x:my:pos", "x", Some("my:pos"), &[]),
        // Empty values are values.
        ("x?k=", "x", None, &[("k", "")]),
    ];
    for (input, resource, positional, params) in cases {
        let syn = ScopeSyntax::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(syn.resource(), *resource, "{input:?}");
        assert_eq!(syn.positional(), *positional, "{input:?}");
        let got: Vec<(&str, &str)> = syn
            .params()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, params.to_vec(), "{input:?}");
    }
}

#[test]
fn checklist_166_general_syntax_rejects() {
    let cases: &[&str] = &[
        "",
        " ",
        "repo:app.bsky.feed.post repo:*",
        "repo:app.bsky.feed.post\t",
        ":positional",
        "?key=val",
        "re/po:x",
        "repo:x?novalue",
        "repo:x?=v",
        "repo:x?a=b&&c=d",
        "repo:x?a=b&",
        "repo:app.bsky.feed.post%2",
        "repo:app.bsky.feed.post%zz",
        "repo:x?a=%",
        "repo:x?a=%ff", // decodes to invalid UTF-8
    ];
    for s in cases {
        assert!(ScopeSyntax::parse(s).is_err(), "{s:?}");
        assert!(Permission::parse(s).is_err(), "{s:?}");
    }
    assert_eq!(ScopeSyntax::parse(""), Err(ScopeError::Empty));
    assert!(matches!(
        ScopeSyntax::parse("repo:x%zz"),
        Err(ScopeError::BadPercentEncoding(_))
    ));
}

#[test]
fn checklist_166_repeated_keys_form_arrays() {
    let syn = ScopeSyntax::parse("repo:a.b.c?action=create&x=1&action=delete").unwrap();
    assert_eq!(
        syn.values("action").collect::<Vec<_>>(),
        ["create", "delete"]
    );
    assert_eq!(syn.values("x").collect::<Vec<_>>(), ["1"]);
    assert_eq!(syn.values("none").count(), 0);

    assert_eq!(
        perm("repo:a.b.c?action=create&action=delete"),
        Permission::Repo {
            collections: vec![NsidPattern::Nsid(nsid("a.b.c"))],
            actions: vec![RepoAction::Create, RepoAction::Delete],
        }
    );
    assert_eq!(
        perm("rpc?lxm=a.b.c&lxm=a.b.d&aud=*"),
        Permission::Rpc {
            lxm: vec![
                NsidPattern::Nsid(nsid("a.b.c")),
                NsidPattern::Nsid(nsid("a.b.d"))
            ],
            aud: Audience::Any,
        }
    );
    // Array values may repeat (de-duplicated); single values may not.
    assert_eq!(
        perm("repo:a.b.c?action=create&action=create"),
        perm("repo:a.b.c?action=create")
    );
    let single_repeated = [
        ("rpc:a.b.c?aud=*&aud=*", "aud"),
        ("account:email?action=read&action=manage", "action"),
        ("account?attr=email&attr=repo", "attr"),
        ("identity?attr=handle&attr=*", "attr"),
        ("include?nsid=a.b.c&nsid=a.b.d", "nsid"),
        (
            "include:a.b.c?aud=did:web:x.com%23a&aud=did:web:x.com%23b",
            "aud",
        ),
    ];
    for (s, key) in single_repeated {
        assert!(
            matches!(Permission::parse(s), Err(ScopeError::RepeatedParam { key: k, .. }) if k == key),
            "{s:?}: {:?}",
            Permission::parse(s)
        );
    }
}

#[test]
fn checklist_166_positional_and_key_conflict_rejected() {
    let cases = [
        // specs/permission, "Scope String Syntax"
        (
            "repo:com.example.record?collection=com.example.other",
            "collection",
        ),
        (
            "repo:com.example.record?collection=com.example.record",
            "collection",
        ),
        ("rpc:a.b.c?aud=*&lxm=a.b.d", "lxm"),
        ("blob:image/*?accept=video/*", "accept"),
        ("account:email?attr=email", "attr"),
        ("identity:handle?attr=handle", "attr"),
        ("include:a.b.c?nsid=a.b.c", "nsid"),
        // An empty positional part is still a positional part.
        ("repo:?collection=a.b.c", "collection"),
    ];
    for (s, key) in cases {
        assert_eq!(
            Permission::parse(s).map_err(|e| match e {
                ScopeError::PositionalAndKey { key, .. } => key,
                _ => "other error",
            }),
            Err(key),
            "{s:?}"
        );
    }
    // The same values without the positional part are fine.
    assert!(Permission::parse("repo?collection=com.example.record").is_ok());
    assert!(Permission::parse("account?attr=email").is_ok());
}

#[test]
fn checklist_166_case_sensitive() {
    // Resource names.
    for s in [
        "Repo:app.bsky.feed.post",
        "REPO:*",
        "Rpc:a.b.c?aud=*",
        "Blob:*/*",
        "Account:email",
        "Identity:*",
        "Include:a.b.c",
    ] {
        assert!(
            matches!(Permission::parse(s), Err(ScopeError::UnknownResource(_))),
            "{s:?}"
        );
        assert_eq!(Scope::parse(s), Scope::Unknown(s.to_owned()));
    }
    // Parameter names and values.
    for s in [
        "repo:app.bsky.feed.post?Action=create",
        "repo:app.bsky.feed.post?action=Create",
        "repo:app.bsky.feed.post?action=CREATE",
        "rpc:a.b.c?AUD=*",
        "account:EMAIL",
        "account:Email",
        "account:email?action=Manage",
        "identity:Handle",
        "blob?Accept=image/*",
    ] {
        assert!(Permission::parse(s).is_err(), "{s:?}");
    }
    // The special scopes.
    for s in [
        "ATPROTO",
        "Atproto",
        "transition:Generic",
        "Transition:generic",
        "transition:chat.Bsky",
    ] {
        let set = ScopeSet::parse(s);
        assert!(!set.has_atproto(), "{s:?}");
        assert!(!set.transition_generic() && !set.transition_chat(), "{s:?}");
        assert!(
            matches!(set.iter().next(), Some(Scope::Unknown(_))),
            "{s:?}"
        );
    }
    // NSIDs are compared exactly.
    let set = ScopeSet::parse("atproto repo:app.bsky.feed.post");
    assert!(set.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create));
    assert!(!set.allows_repo_write(&nsid("app.bsky.feed.Post"), RepoAction::Create));
}

#[test]
fn checklist_166_percent_encoding() {
    // Percent-encoded and literal forms parse to the same permission.
    let pairs = [
        ("repo:app%2Ebsky.feed.post", "repo:app.bsky.feed.post"),
        ("repo:app%2ebsky.feed.post", "repo:app.bsky.feed.post"),
        (
            "rpc:app.bsky.feed.getFeedSkeleton?aud=did:web:api.bsky.app%23bsky_appview",
            "rpc:app.bsky.feed.getFeedSkeleton?aud=did:web:api.bsky.app#bsky_appview",
        ),
        (
            "rpc:app.bsky.feed.getFeedSkeleton?aud=did%3Aweb%3Aapi.bsky.app%23bsky_appview",
            "rpc:app.bsky.feed.getFeedSkeleton?aud=did:web:api.bsky.app#bsky_appview",
        ),
        ("blob:image%2F*", "blob:image/*"),
        ("blob:image/%2A", "blob:image/*"),
        ("account:%65mail", "account:email"),
        ("repo:*?%61ction=create", "repo:*?action=create"),
        ("identity:%2A", "identity:*"),
    ];
    for (encoded, literal) in pairs {
        assert_eq!(perm(encoded), perm(literal), "{encoded:?}");
    }
    // An encoded '?' or '&' is data, not syntax.
    assert!(Permission::parse("repo:app.bsky.feed.post%3Faction=create").is_err());
    assert_eq!(
        ScopeSyntax::parse("x:a%3Fb?k=c%26d%3De")
            .unwrap()
            .params()
            .to_vec(),
        vec![("k".to_owned(), "c&d=e".to_owned())]
    );
    // Encoded non-ASCII decodes but is no valid value anywhere.
    assert!(matches!(
        Permission::parse("repo:qu%C3%A9bec.example.x"),
        Err(ScopeError::InvalidValue { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Canonical forms
// ---------------------------------------------------------------------------------------------

#[test]
fn canonical_forms() {
    let cases = [
        ("repo:app.example.profile", "repo:app.example.profile"),
        (
            "repo:app.example.profile?action=create&action=update&action=delete",
            "repo:app.example.profile",
        ),
        (
            "repo?collection=app.example.profile&collection=app.example.post",
            "repo?collection=app.example.post&collection=app.example.profile",
        ),
        (
            "repo?collection=app.example.post&collection=app.example.post",
            "repo:app.example.post",
        ),
        ("repo:*", "repo:*"),
        ("repo?collection=*", "repo:*"),
        ("repo?collection=app.example.post&collection=*", "repo:*"),
        ("repo:*?action=delete", "repo:*?action=delete"),
        (
            "repo:a.b.c?action=delete&action=create",
            "repo:a.b.c?action=create&action=delete",
        ),
        (
            "repo?action=update&collection=a.b.c",
            "repo:a.b.c?action=update",
        ),
        (
            "repo?collection=a.b.d&action=delete&collection=a.b.c",
            "repo?collection=a.b.c&collection=a.b.d&action=delete",
        ),
        (
            "rpc:app.example.moderation.createReport?aud=*",
            "rpc:app.example.moderation.createReport?aud=*",
        ),
        (
            "rpc?lxm=*&aud=did:web:api.example.com%23svc_appview",
            "rpc:*?aud=did:web:api.example.com%23svc_appview",
        ),
        (
            "rpc:a.b.c?aud=did:web:api.example.com#svc",
            "rpc:a.b.c?aud=did:web:api.example.com%23svc",
        ),
        (
            "rpc?aud=*&lxm=a.b.d&lxm=a.b.c",
            "rpc?lxm=a.b.c&lxm=a.b.d&aud=*",
        ),
        (
            "rpc?lxm=a.b.c&lxm=*&aud=did:web:x.com%23s",
            "rpc:*?aud=did:web:x.com%23s",
        ),
        ("blob:*/*", "blob:*/*"),
        ("blob?accept=*/*&accept=image/png", "blob:*/*"),
        (
            "blob?accept=video/*&accept=text/html",
            "blob?accept=video/*&accept=text/html",
        ),
        (
            "blob?accept=text/html&accept=video/*&accept=text/html",
            "blob?accept=video/*&accept=text/html",
        ),
        ("blob?accept=image/png", "blob:image/png"),
        ("blob:application/ld+json", "blob:application/ld+json"),
        ("account:email", "account:email"),
        ("account:email?action=read", "account:email"),
        (
            "account?action=manage&attr=repo",
            "account:repo?action=manage",
        ),
        (
            "account:status?action=manage",
            "account:status?action=manage",
        ),
        ("identity:*?", "identity:*"),
        ("identity?attr=handle", "identity:handle"),
        (
            "include:app.example.authFull",
            "include:app.example.authFull",
        ),
        (
            "include?nsid=app.example.authFull&aud=did:web:api.example.com%23svc_chat",
            "include:app.example.authFull?aud=did:web:api.example.com%23svc_chat",
        ),
    ];
    for (input, canonical) in cases {
        let p = perm(input);
        assert_eq!(p.to_string(), canonical, "{input:?}");
        // The canonical form parses back to the same value and is a fixed point.
        let again = perm(canonical);
        assert_eq!(again, p, "{canonical:?}");
        assert_eq!(again.to_string(), canonical, "{canonical:?}");
    }
}

#[test]
fn canonical_round_trip_of_all_spec_examples() {
    for s in SPEC_VALID {
        let p = perm(s);
        let text = p.to_string();
        assert_eq!(perm(&text), p, "{s:?} -> {text:?}");
        assert_eq!(perm(&text).to_string(), text, "{s:?}");
        assert_eq!(p.to_string().parse::<Permission>(), Ok(p.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid permissions, per resource
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_permissions() {
    let cases: &[&str] = &[
        // repo (checklist #167)
        "repo",
        "repo:",
        "repo?",
        "repo:app.bsky.*",
        "repo:app.*",
        "repo:*.bsky.feed.post",
        "repo:app.bsky.feed.*",
        "repo?collection=app.bsky.*",
        "repo?collection=a.b.c&collection=app.bsky.*",
        "repo:invalid",
        "repo:foo bar",
        "repo:.foo.bar",
        "repo:a.b.c?action=*",
        "repo:a.b.c?action=invalid",
        "repo:a.b.c?action=",
        "repo:a.b.c?action=read",
        "repo:a.b.c?unknown=1",
        "repo:a.b.c?aud=*",
        // rpc (checklist #168)
        "rpc",
        "rpc:*",
        "rpc:a.b.c",
        "rpc?lxm=a.b.c",
        "rpc?aud=*",
        "rpc:?aud=*",
        "rpc:*?aud=*",
        "rpc?lxm=*&aud=*",
        "rpc?lxm=a.b.c&lxm=*&aud=*",
        "rpc:app.bsky.*?aud=*",
        "rpc:invalid?aud=*",
        "rpc:a.b.c?aud=",
        "rpc:a.b.c?aud=invalid",
        "rpc:a.b.c?aud=did:web:api.example.com",
        "rpc:a.b.c?aud=did:web:api.example.com%23",
        "rpc:a.b.c?aud=did:web:api.example.com%23a%23b",
        "rpc:a.b.c?aud=did:web:api.example.com:path%23svc",
        "rpc:a.b.c?aud=did:plc:111%23svc",
        "rpc:a.b.c?aud=did:foo:bar%23svc",
        "rpc:a.b.c?aud=%23svc",
        "rpc:a.b.c?aud=did:web:x.com%23svc&extra=1",
        // blob (checklist #169)
        "blob",
        "blob:",
        "blob:image",
        "blob:*",
        "blob:*/png",
        "blob:image/p*",
        "blob:image/*png",
        "blob:ima*/*",
        "blob:/png",
        "blob:image/",
        "blob:a/b/c",
        "blob:image/%20png",
        "blob:image/*?action=read",
        // account
        "account",
        "account:",
        "account:*",
        "account:handle",
        "account:email?action=write",
        "account:email?action=",
        "account:email?aud=*",
        // identity
        "identity",
        "identity:",
        "identity:did",
        "identity:email",
        "identity:handle?action=manage",
        // include
        "include",
        "include:",
        "include:*",
        "include:app.example.*",
        "include:notansid",
        "include:app.example.authFull?aud=*",
        "include:app.example.authFull?aud=did:web:api.example.com",
        "include:app.example.authFull?lxm=a.b.c",
    ];
    for s in cases {
        let r = Permission::parse(s);
        assert!(r.is_err(), "{s:?} should be rejected, got {r:?}");
        assert!(
            !matches!(r, Err(ScopeError::UnknownResource(_))),
            "{s:?} names a known resource"
        );
        // In a scope set it is kept as invalid and grants nothing.
        let set = ScopeSet::parse(&format!("atproto {s}"));
        assert_eq!(set.invalid().count(), 1, "{s:?}");
        assert!(set.permissions().next().is_none(), "{s:?}");
    }
}

#[test]
fn specific_errors() {
    assert_eq!(
        Permission::parse("rpc:*?aud=*"),
        Err(ScopeError::RpcDoubleWildcard)
    );
    assert!(matches!(
        Permission::parse("repo"),
        Err(ScopeError::MissingParam {
            key: "collection",
            ..
        })
    ));
    assert!(matches!(
        Permission::parse("rpc:a.b.c"),
        Err(ScopeError::MissingParam { key: "aud", .. })
    ));
    assert!(matches!(
        Permission::parse("repo:a.b.c?foo=1"),
        Err(ScopeError::UnknownParam { ref key, .. }) if key == "foo"
    ));
    // Partial wildcards are named as such.
    for s in [
        "repo:app.bsky.*",
        "rpc:app.bsky.*?aud=*",
        "repo?collection=*.bsky.feed.post",
    ] {
        assert!(
            matches!(
                Permission::parse(s),
                Err(ScopeError::InvalidValue {
                    reason: "partial wildcards are not supported",
                    ..
                })
            ),
            "{s:?}: {:?}",
            Permission::parse(s)
        );
    }
    assert!(matches!(
        Permission::parse("rpc:a.b.c?aud=did:web:x.com"),
        Err(ScopeError::InvalidServiceRef { ref value, .. }) if value == "did:web:x.com"
    ));
    assert!(matches!(
        Permission::parse("include:a.b.c?aud=did:plc:short%23svc"),
        Err(ScopeError::InvalidServiceRef { .. })
    ));
    assert!(matches!(
        Permission::parse("blob:image/p*"),
        Err(ScopeError::InvalidMimePattern { ref value, .. }) if value == "image/p*"
    ));
    // Errors have readable messages.
    assert_eq!(
        ScopeError::RpcDoubleWildcard.to_string(),
        "rpc permission may not have both lxm and aud as wildcard '*'"
    );
}

// ---------------------------------------------------------------------------------------------
// Scope sets and the access questions
// ---------------------------------------------------------------------------------------------

/// Every access question, for a set that should answer all of them `true` given `atproto`.
fn grants_anything(set: &ScopeSet) -> Vec<&'static str> {
    let mut out = Vec::new();
    if set.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create) {
        out.push("repo");
    }
    if set.allows_blob("image/png") {
        out.push("blob");
    }
    if set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW) {
        out.push("rpc");
    }
    if set.allows_rpc(&nsid("chat.bsky.convo.getLog"), CHAT) {
        out.push("rpc chat");
    }
    if set.allows_rpc_any_method(APPVIEW) {
        out.push("rpc any");
    }
    if set.allows_account(AccountAttr::Email, AccountAction::Read) {
        out.push("account");
    }
    if set.allows_identity(IdentityAttr::Handle) {
        out.push("identity");
    }
    out
}

const EVERYTHING: &str = "repo:* blob:*/* rpc:*?aud=did:web:api.bsky.app%23bsky_appview \
    rpc:chat.bsky.convo.getLog?aud=* account:email identity:* \
    transition:generic transition:chat.bsky transition:email";

#[test]
fn checklist_164_no_atproto_no_access() {
    let without = ScopeSet::parse(EVERYTHING);
    assert!(!without.has_atproto());
    // The transitional scopes are still visible, but grant nothing.
    assert!(
        without.transition_generic() && without.transition_chat() && without.transition_email()
    );
    assert_eq!(grants_anything(&without), Vec::<&str>::new());

    let with = ScopeSet::parse(&format!("atproto {EVERYTHING}"));
    assert!(with.has_atproto());
    assert_eq!(
        grants_anything(&with),
        [
            "repo", "blob", "rpc", "rpc chat", "rpc any", "account", "identity"
        ]
    );

    // `atproto` alone is authentication only.
    let only = ScopeSet::parse("atproto");
    assert!(only.has_atproto());
    assert_eq!(grants_anything(&only), Vec::<&str>::new());
    assert_eq!(grants_anything(&ScopeSet::parse("")), Vec::<&str>::new());
}

#[test]
fn checklist_165_transition_generic() {
    let set = ScopeSet::parse("atproto transition:generic");
    assert!(set.transition_generic());
    assert!(!set.transition_chat() && !set.transition_email());
    // Record writes of any type and action.
    for c in [
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "com.example.thing",
    ] {
        for a in RepoAction::ALL {
            assert!(set.allows_repo_write(&nsid(c), a), "{c} {a:?}");
        }
    }
    // Blobs of any type.
    assert!(set.allows_blob("image/png"));
    assert!(set.allows_blob("video/mp4"));
    assert!(set.allows_blob("application/octet-stream"));
    assert!(!set.allows_blob("not a mime"));
    // Preferences, proxying and service auth to any service, for most methods.
    assert!(set.allows_rpc(&nsid("app.bsky.actor.getPreferences"), APPVIEW));
    assert!(set.allows_rpc(&nsid("app.bsky.actor.putPreferences"), APPVIEW));
    assert!(set.allows_rpc(
        &nsid("app.bsky.feed.getFeedSkeleton"),
        "did:web:feed.example.com#bsky_fg"
    ));
    assert!(set.allows_rpc(
        &nsid("com.atproto.moderation.createReport"),
        "did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler"
    ));
    // But no chat.bsky (in any letter case).
    assert!(!set.allows_rpc(&nsid("chat.bsky.convo.getLog"), CHAT));
    assert!(!set.allows_rpc(&nsid("chat.bsky.convo.sendMessage"), CHAT));
    assert!(!set.allows_rpc(&nsid("Chat.Bsky.convo.getLog"), CHAT));
    assert!(!set.allows_rpc(&nsid("CHAT.BSKY.convo.getLog"), CHAT));
    // Not chat.bsky: a longer first segment is a different namespace.
    assert!(set.allows_rpc(&nsid("chat.bskyx.convo.getLog"), CHAT));
    // No method-less service auth (it would cover chat.bsky).
    assert!(!set.allows_rpc_any_method(APPVIEW));
    // No account management, no identity changes, no email.
    for attr in [AccountAttr::Email, AccountAttr::Repo, AccountAttr::Status] {
        for action in [AccountAction::Read, AccountAction::Manage] {
            assert!(!set.allows_account(attr, action), "{attr:?} {action:?}");
        }
    }
    assert!(!set.allows_identity(IdentityAttr::Handle));
    assert!(!set.allows_identity(IdentityAttr::Any));
}

#[test]
fn checklist_165_transition_chat_needs_generic() {
    let both = ScopeSet::parse("atproto transition:generic transition:chat.bsky");
    assert!(both.allows_rpc(&nsid("chat.bsky.convo.getLog"), CHAT));
    assert!(both.allows_rpc(&nsid("chat.bsky.convo.sendMessage"), CHAT));
    assert!(both.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(both.allows_rpc_any_method(CHAT));
    // Still no account management.
    assert!(!both.allows_account(AccountAttr::Email, AccountAction::Read));

    let alone = ScopeSet::parse("atproto transition:chat.bsky");
    assert!(alone.transition_chat());
    assert!(!alone.allows_rpc(&nsid("chat.bsky.convo.getLog"), CHAT));
    assert!(!alone.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(!alone.allows_rpc_any_method(CHAT));
    assert!(!alone.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create));
    assert!(!alone.allows_blob("image/png"));
}

#[test]
fn checklist_165_transition_email() {
    let set = ScopeSet::parse("atproto transition:email");
    assert!(set.transition_email());
    assert!(set.allows_account(AccountAttr::Email, AccountAction::Read));
    assert!(!set.allows_account(AccountAttr::Email, AccountAction::Manage));
    assert!(!set.allows_account(AccountAttr::Repo, AccountAction::Read));
    assert!(!set.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    // Without it (and without account:email) the email is not shown.
    let generic = ScopeSet::parse("atproto transition:generic");
    assert!(!generic.allows_account(AccountAttr::Email, AccountAction::Read));
}

#[test]
fn checklist_167_repo_action_create_only() {
    let set = ScopeSet::parse("atproto repo:app.bsky.feed.post?action=create");
    let post = nsid("app.bsky.feed.post");
    let like = nsid("app.bsky.feed.like");
    assert!(set.allows_repo_write(&post, RepoAction::Create));
    assert!(!set.allows_repo_write(&post, RepoAction::Delete));
    assert!(!set.allows_repo_write(&post, RepoAction::Update));
    for a in RepoAction::ALL {
        assert!(!set.allows_repo_write(&like, a), "{a:?}");
    }
    // Nothing else is granted.
    assert!(!set.allows_blob("image/png"));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
}

#[test]
fn checklist_167_repo_defaults_and_wildcards() {
    let post = nsid("app.bsky.feed.post");
    let like = nsid("app.bsky.feed.like");
    // No action: all actions.
    let set = ScopeSet::parse("atproto repo:app.bsky.feed.post");
    for a in RepoAction::ALL {
        assert!(set.allows_repo_write(&post, a), "{a:?}");
        assert!(!set.allows_repo_write(&like, a), "{a:?}");
    }
    // Wildcard collection, limited action.
    let set = ScopeSet::parse("atproto repo:*?action=delete");
    assert!(set.allows_repo_write(&post, RepoAction::Delete));
    assert!(set.allows_repo_write(&like, RepoAction::Delete));
    assert!(!set.allows_repo_write(&like, RepoAction::Create));
    // Several collections.
    let set = ScopeSet::parse(
        "atproto repo?collection=app.bsky.feed.post&collection=app.bsky.feed.like&action=update",
    );
    assert!(set.allows_repo_write(&post, RepoAction::Update));
    assert!(set.allows_repo_write(&like, RepoAction::Update));
    assert!(!set.allows_repo_write(&nsid("app.bsky.graph.follow"), RepoAction::Update));
    assert!(!set.allows_repo_write(&post, RepoAction::Create));
    // Permissions add up.
    let set = ScopeSet::parse(
        "atproto repo:app.bsky.feed.post?action=create repo:app.bsky.feed.post?action=delete",
    );
    assert!(set.allows_repo_write(&post, RepoAction::Create));
    assert!(set.allows_repo_write(&post, RepoAction::Delete));
    assert!(!set.allows_repo_write(&post, RepoAction::Update));
    // A partial wildcard is rejected and grants nothing.
    let set = ScopeSet::parse("atproto repo:app.bsky.*");
    assert!(!set.allows_repo_write(&post, RepoAction::Create));
    assert_eq!(set.invalid().count(), 1);
}

#[test]
fn checklist_168_rpc_double_wildcard_rejected() {
    for s in [
        "rpc:*?aud=*",
        "rpc?lxm=*&aud=*",
        "rpc?aud=*&lxm=*&lxm=app.bsky.feed.getTimeline",
    ] {
        assert_eq!(
            Permission::parse(s),
            Err(ScopeError::RpcDoubleWildcard),
            "{s:?}"
        );
        let set = ScopeSet::parse(&format!("atproto {s}"));
        assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
        assert!(!set.allows_rpc_any_method(APPVIEW));
        assert_eq!(set.invalid().map(|(raw, _)| raw).collect::<Vec<_>>(), [s]);
    }
    // A hand-built double wildcard grants nothing either.
    let p = Permission::Rpc {
        lxm: vec![NsidPattern::Any],
        aud: Audience::Any,
    };
    assert!(!p.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(!p.allows_rpc_any_method(APPVIEW));
}

#[test]
fn checklist_168_rpc_one_method_any_audience() {
    let set = ScopeSet::parse("atproto rpc:app.bsky.feed.getFeedSkeleton?aud=*");
    let skeleton = nsid("app.bsky.feed.getFeedSkeleton");
    // Proxying and getServiceAuth ask the same question.
    assert!(set.allows_rpc(&skeleton, "did:web:feed.example.com#bsky_fg"));
    assert!(set.allows_rpc(&skeleton, APPVIEW));
    assert!(set.allows_rpc(&skeleton, "did:plc:ar7c4by46qjdydhdevvrndac"));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getFeed"), APPVIEW));
    assert!(!set.allows_rpc_any_method(APPVIEW));
    assert!(!set.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create));
}

#[test]
fn checklist_168_rpc_any_method_one_audience() {
    let set = ScopeSet::parse("atproto rpc:*?aud=did:web:api.bsky.app%23bsky_appview");
    assert!(set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(set.allows_rpc(&nsid("chat.bsky.convo.getLog"), APPVIEW));
    assert!(set.allows_rpc_any_method(APPVIEW));
    // Other audiences, including a different service of the same DID, are not covered.
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), CHAT));
    assert!(!set.allows_rpc(
        &nsid("app.bsky.feed.getTimeline"),
        "did:web:api.bsky.app#other"
    ));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), "did:web:api.bsky.app"));
    assert!(!set.allows_rpc_any_method(CHAT));

    let set = ScopeSet::parse(
        "atproto rpc?lxm=app.bsky.feed.getTimeline&lxm=app.bsky.feed.getAuthorFeed&aud=did:web:api.bsky.app%23bsky_appview",
    );
    assert!(set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), APPVIEW));
    assert!(set.allows_rpc(&nsid("app.bsky.feed.getAuthorFeed"), APPVIEW));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getFeed"), APPVIEW));
    assert!(!set.allows_rpc(&nsid("app.bsky.feed.getTimeline"), CHAT));
    // A specific method does not allow method-less tokens.
    assert!(!set.allows_rpc_any_method(APPVIEW));
}

#[test]
fn checklist_169_blob_patterns() {
    let set = ScopeSet::parse("atproto blob:image/*");
    assert!(set.allows_blob("image/png"));
    assert!(set.allows_blob("image/jpeg"));
    assert!(!set.allows_blob("video/mp4"));
    assert!(!set.allows_blob("text/html"));
    // "image" is a type, not a prefix.
    assert!(!set.allows_blob("imagex/png"));
    // MIME types are case-insensitive and may carry parameters.
    assert!(set.allows_blob("IMAGE/PNG"));
    assert!(set.allows_blob("image/png; charset=binary"));
    // A wildcard or malformed upload type matches nothing.
    assert!(!set.allows_blob("image/*"));
    assert!(!set.allows_blob("image"));
    assert!(!set.allows_blob(""));

    let set = ScopeSet::parse("atproto blob?accept=video/*&accept=text/html");
    assert!(set.allows_blob("video/mp4"));
    assert!(set.allows_blob("text/html"));
    assert!(!set.allows_blob("text/plain"));
    assert!(!set.allows_blob("image/png"));

    let set = ScopeSet::parse("atproto blob:*/*");
    assert!(set.allows_blob("video/mp4"));
    assert!(set.allows_blob("application/x-whatever"));
    assert!(!set.allows_blob("*/*"));

    let set = ScopeSet::parse("atproto blob:application/ld+json");
    assert!(set.allows_blob("application/ld+json"));
    assert!(!set.allows_blob("application/ld json"));
}

#[test]
fn checklist_169_account() {
    use AccountAction::{Manage, Read};
    use AccountAttr::{Email, Repo, Status};
    let q = |scopes: &str| {
        let set = ScopeSet::parse(&format!("atproto {scopes}"));
        let mut out = Vec::new();
        for attr in [Email, Repo, Status] {
            for action in [Read, Manage] {
                if set.allows_account(attr, action) {
                    out.push((attr, action));
                }
            }
        }
        out
    };
    assert_eq!(q("account:email"), [(Email, Read)]);
    assert_eq!(q("account:email?action=read"), [(Email, Read)]);
    // manage includes read
    assert_eq!(
        q("account:email?action=manage"),
        [(Email, Read), (Email, Manage)]
    );
    assert_eq!(
        q("account:repo?action=manage"),
        [(Repo, Read), (Repo, Manage)]
    );
    assert_eq!(q("account:status"), [(Status, Read)]);
    assert_eq!(
        q("account:status?action=manage account:email"),
        [(Email, Read), (Status, Read), (Status, Manage)]
    );
    assert_eq!(q("account:*"), []);
    assert_eq!(q("identity:*"), []);
}

#[test]
fn checklist_169_identity() {
    let set = ScopeSet::parse("atproto identity:handle");
    assert!(set.allows_identity(IdentityAttr::Handle));
    assert!(!set.allows_identity(IdentityAttr::Any));

    let set = ScopeSet::parse("atproto identity:*");
    assert!(set.allows_identity(IdentityAttr::Handle));
    assert!(set.allows_identity(IdentityAttr::Any));

    let set = ScopeSet::parse("atproto account:email?action=manage");
    assert!(!set.allows_identity(IdentityAttr::Handle));
}

#[test]
fn include_is_kept_unresolved() {
    let set = ScopeSet::parse(
        "atproto include:com.example.authBasicFeatures?aud=did:web:api.example.com%23svc_appview include:app.example.authFull",
    );
    let got: Vec<(String, Option<String>)> = set
        .includes()
        .map(|(n, a)| (n.to_string(), a.map(|a| a.to_string())))
        .collect();
    assert_eq!(
        got,
        [
            (
                "com.example.authBasicFeatures".to_owned(),
                Some("did:web:api.example.com#svc_appview".to_owned())
            ),
            ("app.example.authFull".to_owned(), None),
        ]
    );
    // Unresolved, it grants nothing.
    assert!(!set.allows_rpc(
        &nsid("com.example.getFeed"),
        "did:web:api.example.com#svc_appview"
    ));
    assert!(!set.allows_repo_write(&nsid("com.example.post"), RepoAction::Create));
}

#[test]
fn scope_set_classification_and_display() {
    let set = ScopeSet::parse(
        "atproto  openid transition:generic repo?collection=a.b.c Repo:a.b.c rpc:*?aud=* transition:unknown atproto ",
    );
    let kinds: Vec<Scope> = set.iter().cloned().collect();
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    assert_eq!(kinds[0], Scope::Atproto);
    assert_eq!(kinds[1], Scope::Unknown("openid".into()));
    assert_eq!(kinds[2], Scope::Transition(Transition::Generic));
    assert_eq!(kinds[3], Scope::Permission(perm("repo:a.b.c")));
    assert_eq!(kinds[4], Scope::Unknown("Repo:a.b.c".into()));
    assert!(matches!(
        &kinds[5],
        Scope::Invalid { raw, error: ScopeError::RpcDoubleWildcard } if raw == "rpc:*?aud=*"
    ));
    assert_eq!(kinds[6], Scope::Unknown("transition:unknown".into()));
    // Display: canonical permissions, everything else as given; duplicates dropped.
    assert_eq!(
        set.to_string(),
        "atproto openid transition:generic repo:a.b.c Repo:a.b.c rpc:*?aud=* transition:unknown"
    );
    assert_eq!(ScopeSet::parse(&set.to_string()), set);
    assert_eq!(Transition::ChatBsky.as_str(), "transition:chat.bsky");
    assert_eq!((&set).into_iter().count(), 7);
}

#[test]
fn permission_level_questions() {
    let p = perm("repo:app.bsky.feed.post?action=create");
    assert_eq!(p.resource(), "repo");
    assert!(p.allows_repo_write(&nsid("app.bsky.feed.post"), RepoAction::Create));
    assert!(!p.allows_blob("image/png"));
    assert!(!p.allows_rpc(&nsid("app.bsky.feed.post"), APPVIEW));
    // include grants nothing by itself.
    let inc = perm("include:app.example.authFull");
    assert_eq!(inc.resource(), "include");
    assert!(!inc.allows_repo_write(&nsid("app.example.post"), RepoAction::Create));
    assert!(!inc.allows_identity(IdentityAttr::Any));
}

#[test]
fn value_parsers() {
    let r = ServiceRef::parse("did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler").unwrap();
    assert_eq!(r.did().as_str(), "did:plc:ar7c4by46qjdydhdevvrndac");
    assert_eq!(r.service(), "atproto_labeler");
    assert_eq!(
        r.to_string(),
        "did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler"
    );
    for bad in [
        "did:plc:ar7c4by46qjdydhdevvrndac",
        "did:plc:ar7c4by46qjdydhdevvrnda#x",
        "did:plc:AR7C4BY46QJDYDHDEVVRNDAC#x",
        "did:web:a.com:u:alice#x",
        "did:key:zabc#x",
        "did:web:a.com#",
        "#x",
        "*",
    ] {
        assert!(
            matches!(
                ServiceRef::parse(bad),
                Err(ScopeError::InvalidServiceRef { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(MimePattern::parse("*/*"), Ok(MimePattern::Any));
    assert_eq!(
        MimePattern::parse("image/*"),
        Ok(MimePattern::Type("image".into()))
    );
    assert_eq!(
        MimePattern::parse("image/png"),
        Ok(MimePattern::Exact("image/png".into()))
    );
    assert!(MimePattern::parse("image").is_err());
    assert!(MimePattern::Type("image".into()).matches("image/webp"));
    assert!(!MimePattern::Exact("image/png".into()).matches("image/jpeg"));
    assert_eq!(RepoAction::Delete.as_str(), "delete");
    assert_eq!(AccountAttr::Status.as_str(), "status");
    assert_eq!(AccountAction::Manage.as_str(), "manage");
    assert_eq!(IdentityAttr::Any.as_str(), "*");
    assert!(NsidPattern::Any.matches(&nsid("a.b.c")));
    assert!(!NsidPattern::Nsid(nsid("a.b.c")).matches(&nsid("a.b.d")));
}
