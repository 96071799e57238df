//! A pool's proxy reaches the provider (`proxy_config`) and the install wrapper, with the
//! credentials composed into the URLs.

use crate::support::World;
use base64::Engine;
use garm_model::Secret;
use garm_pool::{act, Settings};
use garm_store::ProxyRecord;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_pools_proxy_is_given_to_the_provider_and_the_wrapper() {
    let w = World::new(Settings::default()).await;
    let now = chrono::Utc::now();
    let proxy = w
        .ctx
        .store
        .create_proxy(&ProxyRecord {
            id: 0,
            name: "corp".into(),
            description: String::new(),
            http_proxy: "http://proxy.corp.example:3128".into(),
            https_proxy: "http://proxy.corp.example:3129".into(),
            no_proxy: "localhost,.corp.example".into(),
            username: "svc".into(),
            password: Some(Secret::new("p@ss word")),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let mut pool = w.pool.clone();
    pool.proxy_id = Some(proxy.id);
    let pool = w.ctx.store.update_pool(&pool, None).await.unwrap();
    let name = act::create_instance(&w.ctx, &pool, None).await.unwrap();
    let started = Instant::now();
    let boot = loop {
        if let Some(b) = w.provider.bootstraps().into_iter().find(|b| b.name == name) {
            break b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the provider was never asked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        boot.proxy_config.http_proxy,
        "http://svc:p%40ss%20word@proxy.corp.example:3128"
    );
    assert_eq!(
        boot.proxy_config.https_proxy,
        "http://svc:p%40ss%20word@proxy.corp.example:3129"
    );
    assert_eq!(boot.proxy_config.no_proxy, "localhost,.corp.example");
    let specs: serde_json::Value = serde_json::from_str(boot.extra_specs.as_ref().unwrap().get()).unwrap();
    let wrapper = base64::engine::general_purpose::STANDARD
        .decode(specs["runner_install_template"].as_str().unwrap())
        .unwrap();
    let wrapper = String::from_utf8(wrapper).unwrap();
    assert!(
        wrapper.contains("http://svc:p%40ss%20word@proxy.corp.example:3128"),
        "the wrapper exports the proxy:\n{wrapper}"
    );
}
