//! Tests of the public catalog API against the embedded snapshot and small fixtures.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// The shipped models.dev document the embedded compact file is made from.
const API_JSON: &str = include_str!("../../data/models.dev/api.json");

fn cat() -> &'static Catalog {
    Catalog::embedded()
}

fn qid(id: &str) -> Option<String> {
    cat().lookup(id).map(CatalogEntry::qualified_id)
}

#[test]
fn embedded_parses_with_providers() {
    let c = cat();
    assert!(c.len() > 6000, "entries: {}", c.len());
    let providers = c.providers();
    assert!(providers.len() > 100);
    assert!(providers.iter().all(|p| !p.api.is_empty()));
    let names: Vec<String> = providers.iter().map(|p| p.name.to_lowercase()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(providers.iter().any(|p| p.id == "openrouter"));
    assert_eq!(Catalog::snapshot_date(), "2026-08-18");
}

#[test]
fn bare_ids_prefer_the_original_vendor() {
    assert_eq!(qid("gpt-5.4-mini").as_deref(), Some("openai/gpt-5.4-mini"));
    assert_eq!(qid("GPT-5.4-Mini").as_deref(), Some("openai/gpt-5.4-mini"));
    assert_eq!(
        qid("claude-sonnet-4-5").as_deref(),
        Some("anthropic/claude-sonnet-4-5")
    );
    assert_eq!(
        qid("deepseek-chat").as_deref(),
        Some("deepseek/deepseek-chat")
    );
    assert_eq!(
        qid("gemini-2.5-pro").as_deref(),
        Some("google/gemini-2.5-pro")
    );
    assert_eq!(qid("o3-pro").as_deref(), Some("openai/o3-pro"));
    assert_eq!(qid("grok-4.5").as_deref(), Some("xai/grok-4.5"));
    assert_eq!(qid("kimi-k2.5").as_deref(), Some("moonshotai/kimi-k2.5"));
}

#[test]
fn qualified_ids_prefer_that_provider() {
    assert_eq!(
        qid("openai/gpt-5.4-mini").as_deref(),
        Some("openai/gpt-5.4-mini")
    );
    assert_eq!(
        qid("openrouter/openai/gpt-5.4-mini").as_deref(),
        Some("openrouter/openai/gpt-5.4-mini")
    );
    assert_eq!(qid("x-ai/grok-4.5").as_deref(), Some("xai/grok-4.5"));
    assert_eq!(
        qid("anthropic/claude-sonnet-4-5").as_deref(),
        Some("anthropic/claude-sonnet-4-5")
    );
    // An unknown vendor prefix still finds the model by its own name.
    assert_eq!(
        qid("my-relay/gpt-5.4-mini").as_deref(),
        Some("openai/gpt-5.4-mini")
    );
}

#[test]
fn dated_and_suffixed_ids_fall_back() {
    // gpt-4o-2024-08-06 is itself in the catalog; an unlisted date falls back.
    assert_eq!(
        qid("gpt-4o-2024-08-06").as_deref(),
        Some("openai/gpt-4o-2024-08-06")
    );
    assert_eq!(qid("gpt-4o-2099-01-01").as_deref(), Some("openai/gpt-4o"));
    assert_eq!(
        qid("claude-3-5-haiku-20991231").as_deref(),
        Some("opencode/claude-3-5-haiku")
    );
    assert_eq!(
        qid("deepseek-chat:free").as_deref(),
        Some("deepseek/deepseek-chat")
    );
    assert_eq!(
        qid("gpt-5.4-mini@latest").as_deref(),
        Some("openai/gpt-5.4-mini")
    );
    assert_eq!(
        qid("claude-sonnet-4-5-latest").as_deref(),
        Some("anthropic/claude-sonnet-4-5")
    );
    // `.` vs `-` between version digits.
    assert!(cat().lookup("claude-3.5-haiku-20241022").is_some());
    assert_eq!(qid("totally-unknown-model-xyz"), None);
    assert_eq!(qid(""), None);
    assert_eq!(qid("   "), None);
}

#[test]
fn lookup_is_deterministic() {
    let a = Catalog::from_json(API_JSON).unwrap();
    for id in [
        "gpt-4o",
        "llama-3.1-8b-instruct",
        "glm-4.6",
        "qwen2.5-coder-32b-instruct",
    ] {
        assert_eq!(
            a.lookup(id).map(CatalogEntry::qualified_id),
            qid(id),
            "{id}"
        );
    }
}

#[test]
fn catalog_facts() {
    let e = cat().lookup("gpt-5.4-mini").unwrap();
    assert_eq!(e.input_price, Some(0.75));
    assert_eq!(e.output_price, Some(4.5));
    assert_eq!(e.context, Some(400_000));
    assert!(e.tool_call && e.vision && e.reasoning && e.chat && !e.temperature);
    // `attachment` without image input is file upload, not vision.
    let e = cat().lookup("deepseek-chat").unwrap();
    assert!(!e.vision);
    let e = cat().lookup("text-embedding-3-small").unwrap();
    assert!(!e.chat);
    let e = cat().lookup("gpt-image-1").unwrap();
    assert!(!e.chat);
    assert_eq!(e.context, None, "models.dev writes 0 for image models");
    assert!(!cat().lookup("gemini-2.5-flash-preview-tts").unwrap().chat);
}

#[test]
fn from_json_errors() {
    assert!(matches!(
        Catalog::from_json("not json"),
        Err(CatalogError::Parse(_))
    ));
    assert!(matches!(Catalog::from_json("{}"), Err(CatalogError::Empty)));
    let small = r#"{"acme": {"id":"acme","name":"Acme","env":["ACME_KEY"],"api":"https://acme.test/v1",
        "models": {"acme-1": {"id":"acme-1","name":"Acme 1","attachment":false,"reasoning":false,
        "tool_call":true,"extra_field":{"nested":[1,2,3]},
        "cost":{"input":1,"output":2},"limit":{"context":1000,"output":100}}}}}"#;
    let c = Catalog::from_json(small).unwrap();
    let e = c.lookup("ACME-1").unwrap();
    assert_eq!(e.qualified_id(), "acme/acme-1");
    assert!(e.temperature, "absent temperature means accepted");
    assert_eq!(c.providers()[0].env, vec!["ACME_KEY".to_string()]);
}

fn upstream(ids: &[&str]) -> Vec<serde_json::Value> {
    ids.iter()
        .map(|id| json!({"id": id, "object": "model"}))
        .collect()
}

fn by_id<'a>(facts: &'a [ModelFacts], id: &str) -> &'a ModelFacts {
    facts.iter().find(|f| f.id == id).unwrap()
}

#[test]
fn join_plain_relay() {
    let list = upstream(&[
        "gpt-5.4-mini",
        "gpt-5.5",
        "gpt-5.3-codex",
        "claude-sonnet-4-5",
        "deepseek-chat",
        "text-embedding-3-small",
        "my-private-model",
    ]);
    let facts = join(&list, cat(), &BTreeMap::new());
    let ids: Vec<&str> = facts.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        list.iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );

    let f = by_id(&facts, "gpt-5.4-mini");
    assert_eq!(f.catalog_id.as_deref(), Some("openai/gpt-5.4-mini"));
    assert_eq!((f.input_price, f.output_price), (Some(0.75), Some(4.5)));
    assert_eq!(f.price_source, Source::Catalog);
    assert_eq!(f.capability_source, Source::Catalog);
    assert_eq!(f.tier, Tier::Low);
    assert!(f.excluded.is_none());

    assert_eq!(by_id(&facts, "gpt-5.5").tier, Tier::Frontier);
    assert_eq!(by_id(&facts, "gpt-5.3-codex").tier, Tier::Coding);
    assert_eq!(by_id(&facts, "claude-sonnet-4-5").tier, Tier::Strong);
    assert_eq!(by_id(&facts, "deepseek-chat").tier, Tier::Standard);

    let emb = by_id(&facts, "text-embedding-3-small");
    assert!(!emb.chat);
    assert_eq!(emb.excluded.as_deref(), Some("not a chat model"));

    let unk = by_id(&facts, "my-private-model");
    assert_eq!(unk.catalog_id, None);
    assert_eq!((unk.input_price, unk.output_price), (None, None));
    assert_eq!(unk.price_source, Source::Unknown);
    assert_eq!(unk.capability_source, Source::Heuristic);
    assert_eq!(unk.context, None);
    assert!(unk.chat && !unk.tool_call && !unk.vision);
    assert_eq!(unk.tier, Tier::Standard);
}

#[test]
fn join_skips_bad_ids_and_duplicates() {
    let list = vec![
        json!({"id": 42}),
        json!({"id": ""}),
        json!({"object": "model"}),
        json!("gpt-4o"),
        json!({"id": "gpt-4o"}),
        json!({"id": "gpt-4o", "pricing": {"prompt": "1", "completion": "1"}}),
    ];
    let facts = join(&list, cat(), &BTreeMap::new());
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0].price_source, Source::Catalog);
}

#[test]
fn join_precedence() {
    let list = vec![
        json!({
            "id": "openai/gpt-4.1",
            "context_length": 500000,
            "pricing": {"prompt": "0.000002", "completion": "0.000008"},
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            "supported_parameters": ["tools", "temperature"]
        }),
        json!({"id": "gpt-4.1"}),
        json!({"id": "unknown-embedder", "architecture": {"output_modalities": ["embeddings"]}}),
    ];
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "gpt-4.1".to_string(),
        ModelOverride {
            output_price: Some(99.0),
            vision: Some(false),
            tier: Some(Tier::Frontier),
            exclude: true,
            ..ModelOverride::default()
        },
    );
    let facts = join(&list, cat(), &overrides);

    let up = &facts[0];
    assert_eq!(up.catalog_id.as_deref(), Some("openai/gpt-4.1"));
    assert_eq!(up.price_source, Source::Upstream);
    assert!((up.input_price.unwrap() - 2.0).abs() < 1e-9);
    assert!((up.output_price.unwrap() - 8.0).abs() < 1e-9);
    assert_eq!(up.context, Some(500_000), "upstream beats catalog");
    assert_eq!(
        up.max_output,
        Some(32768),
        "catalog fills what upstream omits"
    );
    assert!(!up.vision, "upstream modalities say text only");
    assert_eq!(up.capability_source, Source::Upstream);
    assert!(up.excluded.is_none());

    let ov = &facts[1];
    assert_eq!(ov.price_source, Source::Override);
    assert_eq!((ov.input_price, ov.output_price), (Some(2.0), Some(99.0)));
    assert!(!ov.vision);
    assert!(
        ov.tool_call,
        "catalog value kept where the override is silent"
    );
    assert_eq!(ov.capability_source, Source::Override);
    assert_eq!(ov.tier, Tier::Frontier);
    assert_eq!(ov.excluded.as_deref(), Some("excluded in config"));

    let emb = &facts[2];
    assert!(!emb.chat);
    assert_eq!(emb.excluded.as_deref(), Some("not a chat model"));
}

#[test]
fn override_keys_are_case_insensitive() {
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "My-Model".to_string(),
        ModelOverride {
            tier: Some(Tier::Coding),
            ..ModelOverride::default()
        },
    );
    let facts = join(&upstream(&["my-model"]), cat(), &overrides);
    assert_eq!(facts[0].tier, Tier::Coding);
}

#[test]
fn cost_and_blended_price() {
    let facts = join(
        &upstream(&["gpt-5.4-mini", "nope-x"]),
        cat(),
        &BTreeMap::new(),
    );
    let f = &facts[0];
    let cost = f.cost(1_000_000, 1_000_000).unwrap();
    assert!((cost - 5.25).abs() < 1e-9);
    assert!((f.cost(1000, 0).unwrap() - 0.00075).abs() < 1e-12);
    assert!((f.blended_price().unwrap() - (0.75 + 3.0 * 4.5)).abs() < 1e-9);
    assert_eq!(facts[1].cost(10, 10), None);
    assert_eq!(facts[1].blended_price(), None);
}

#[test]
fn model_facts_serialize() {
    let facts = join(&upstream(&["gpt-5.5"]), cat(), &BTreeMap::new());
    let v = serde_json::to_value(&facts[0]).unwrap();
    assert_eq!(v["price_source"], "catalog");
    assert_eq!(v["tier"], "frontier");
    assert_eq!(v["catalog_id"], "openai/gpt-5.5");
}

/// The embedded compact file is what `compact_from_api_json` makes of the shipped `api.json`.
/// After replacing `api.json`, `UPDATE_CATALOG=1` rewrites the compact file.
#[test]
fn compact_file_matches_api_json() {
    let fresh = compact_from_api_json(API_JSON).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/models.dev/catalog.compact.tsv");
    if std::env::var_os("UPDATE_CATALOG").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "data/models.dev/catalog.compact.tsv is out of date with api.json; refresh with\n  UPDATE_CATALOG=1 cargo test --lib catalog\n(then rebuild: the binary embeds the file)"
    );
}

/// Queries a relay might send for a catalog id: the id as listed, qualified, and decorated
/// with the suffixes and prefixes the lookup rules handle.
fn query_variants(provider: &str, id: &str) -> Vec<String> {
    let last = id.rsplit('/').next().unwrap_or(id);
    vec![
        id.to_string(),
        format!("{provider}/{id}"),
        id.to_uppercase(),
        format!("{id}:free"),
        format!("{id}@latest"),
        format!("{id}-latest"),
        format!("{id}-2099-01-01"),
        format!("{id}-20991231"),
        format!("x-ai/{last}"),
        format!("meta-llama/{last}"),
        format!("openrouter/{id}"),
        format!("my-relay/{last}"),
        id.replace('.', "-"),
        last.to_string(),
    ]
}

/// The embedded compact catalog answers every lookup exactly as the full document does.
#[test]
fn compact_lookups_equal_full_document() {
    let full = Catalog::from_json(API_JSON).unwrap();
    let compact = cat();
    assert_eq!(full.len(), compact.len());
    assert!(full.entries().eq(compact.entries()), "entries differ");
    assert_eq!(full.providers(), compact.providers());

    let doc: serde_json::Value = serde_json::from_str(API_JSON).unwrap();
    let mut queries: Vec<String> = [
        "gpt-4o-2024-08-06",
        "gpt-4o-2099-01-01",
        "claude-3-5-haiku-20991231",
        "claude-3.5-haiku-20241022",
        "gemini-2.5-pro-preview-05-06",
        "deepseek/deepseek-r1:free",
        "meta-llama/llama-3.1-8b-instruct",
        "openrouter/openai/gpt-5.4-mini",
        "@cf/qwen/qwen2.5-coder-32b-instruct",
        "~anthropic/claude-sonnet-4-5",
        "z-ai/glm-4.6",
        "qwen/qwen3-coder",
        "my_model  name",
        "totally-unknown-model-xyz",
        "",
        "/",
        "a/b/c/d",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (provider, p) in doc.as_object().unwrap() {
        for id in p["models"].as_object().unwrap().keys() {
            queries.extend(query_variants(provider, id));
        }
    }
    assert!(queries.len() > 6000 * 14);
    for q in &queries {
        assert_eq!(full.lookup(q), compact.lookup(q), "{q}");
    }
    // Every catalog entry is found under its own qualified id, with the document's facts.
    for e in full.entries() {
        let found = compact.lookup(&e.qualified_id()).unwrap();
        assert_eq!(found.provider, e.provider);
    }
}

#[test]
fn compact_format_round_trips_and_rejects_bad_input() {
    let doc = r#"{"zeta": {"name":"Zeta","api":" https://z.test/v1 ","env":["Z_KEY","Z2"],
        "models": {"z-1": {"tool_call":true,"attachment":true,"temperature":false,
            "modalities":{"input":["text"],"output":["text","image"]},
            "cost":{"input":0.1,"output":1e-7},"limit":{"context":0,"output":12345}},
          "z-embed": {"status":"deprecated","modalities":{"output":["text"]}}}},
      "alpha": {"models": {"a/b:c": {"reasoning":true,"cost":{"input":-1,"output":3}}}},
      "empty": {"name":"No models","api":"https://e.test"}}"#;
    let text = compact_from_api_json(doc).unwrap();
    assert_eq!(text, compact_from_api_json(doc).unwrap(), "deterministic");
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "n\t3\t3\t15",
            "p\talpha\talpha\t",
            "m\ta/b:c\t\t3\t\t\trTo",
            "p\tempty\tNo models\thttps://e.test",
            "p\tzeta\tZeta\thttps://z.test/v1\tZ_KEY\tZ2",
            "m\tz-1\t0.1\t0.0000001\t\t12345\ttoi",
            "m\tz-embed\t\t\t\t\tTod",
        ]
    );
    let a = Catalog::from_json(doc).unwrap();
    let b = Catalog::from_compact(&text).unwrap();
    assert!(a.entries().eq(b.entries()));
    assert_eq!(a.providers(), b.providers());
    let z = b.lookup("z-1").unwrap();
    assert_eq!(z.output_price, Some(1e-7));
    assert!(
        z.chat,
        "text and image out, and nothing in the id says image generator"
    );
    assert!(!z.vision, "input modalities decide over attachment");
    assert!(!b.lookup("z-embed").unwrap().chat);
    assert!(b.lookup("z-embed").unwrap().deprecated);
    // CRLF line ends (a Windows checkout) read the same.
    let crlf = Catalog::from_compact(&text.replace('\n', "\r\n")).unwrap();
    assert!(crlf.entries().eq(b.entries()));

    let bad_name = r#"{"x": {"name":"tab\there","models": {"m": {}}}}"#;
    assert!(matches!(
        compact_from_api_json(bad_name),
        Err(CatalogError::Unrepresentable { .. })
    ));
    assert!(matches!(
        compact_from_api_json("{}"),
        Err(CatalogError::Empty)
    ));
    for (bad, line) in [
        ("m\tx\t\t\t\t\t-", 1),
        ("p\ta\tA\t\nm\tx\t1\t2\t3", 2),
        ("p\ta\tA\t\nm\tx\t-1\t\t\t\t-", 2),
        ("p\ta\tA\t\nm\tx\t\t\t0\t\t-", 2),
        ("p\ta\tA\t\nm\tx\t\t\t\t\tq", 2),
        ("p\ta\tA\t\nm\tx\t\t\t\t\t-\textra", 2),
        ("# c\nz\tunknown", 2),
        ("p\ta\tA\t\nn\t1\t1\t1", 2),
    ] {
        match Catalog::from_compact(bad) {
            Err(CatalogError::Compact { line: l, .. }) => assert_eq!(l, line, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Catalog::from_compact("# nothing\np\ta\tA\t"),
        Err(CatalogError::Empty)
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lookup_never_panics(s in "\\PC{0,40}") {
            let _ = cat().lookup(&s);
        }

        #[test]
        fn join_never_panics(id in "\\PC{0,30}", p in "\\PC{0,10}", c in "\\PC{0,10}") {
            let list = vec![json!({"id": id, "pricing": {"prompt": p, "completion": c}, "context_length": p})];
            let facts = join(&list, cat(), &BTreeMap::new());
            for f in facts {
                prop_assert!(f.input_price.is_none_or(|x| x.is_finite() && x >= 0.0));
                prop_assert!(f.output_price.is_none_or(|x| x.is_finite() && x >= 0.0));
            }
        }
    }
}
