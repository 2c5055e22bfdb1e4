use reqwest::{Method, StatusCode};

use crate::harness::{Backend, spawn_app};

async fn locate_returns_the_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .call(
            Method::GET,
            "/api/v1/places/locate?lat=28.05&lng=113.1",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let codes: Vec<&str> = r.body["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|u| u["code"].as_str())
        .collect();
    assert_eq!(codes, ["G1a", "M1", "S1", "D1", "C"]);
    // On the shared edge between G1a and G1b (lat 28.1): the smaller code wins.
    let r = app
        .call(
            Method::GET,
            "/api/v1/places/locate?lat=28.1&lng=113.1",
            None,
            None,
        )
        .await;
    assert_eq!(r.body["chain"][0]["code"], "G1a");
    // Outside every polygon.
    let r = app
        .call(
            Method::GET,
            "/api/v1/places/locate?lat=10&lng=10",
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["found"]),
        (StatusCode::OK, &serde_json::Value::Bool(false))
    );
    let r = app
        .call(
            Method::GET,
            "/api/v1/places/locate?lat=95&lng=10",
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("lat"))
    );
    let r = app
        .call(Method::GET, "/api/v1/places/locate?lng=10", None, None)
        .await;
    assert_eq!(r.body["field"], "lat");
    app.stop().await;
}
crate::db_test!(locate_returns_the_chain);

async fn grid_import_is_all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mapping = gongzhi_domain::places::ImportMapping {
        name_property: "name".into(),
        code_property: "code".into(),
        parent_property: Some("community".into()),
        default_parent: None,
    };
    let feature = |code: &str, parent: &str, geometry: serde_json::Value| serde_json::json!({"type": "Feature", "properties": {"name": code, "code": code, "community": parent}, "geometry": geometry});
    let good = crate::harness::square(113.0, 28.0, 113.05, 28.05);
    let bad = serde_json::json!({"type": "Polygon", "coordinates": [[[113.0, 28.0], [113.1, 28.0], [113.1, 28.1]]]});
    let text = serde_json::json!({"type": "FeatureCollection", "features": [
        feature("N1", "M1", good.clone()),
        feature("N2", "M1", bad),
        feature("N3", "NOPE", good.clone()),
        feature("G1a", "M1", good.clone()),
        feature("N4", "S1", good.clone()),
    ]})
    .to_string();
    let before = app.db.unit_count().await.expect("count");
    let err = gongzhi::grids::import_grids(&app.db, &text, &mapping)
        .await
        .expect_err("must reject");
    let report = err.to_string();
    assert!(report.contains("feature 1"), "{report}");
    assert_eq!(
        app.db.unit_count().await.expect("count"),
        before,
        "nothing imported"
    );
    // Fix the file: everything lands.
    let text = serde_json::json!({"type": "FeatureCollection", "features": [
        feature("N1", "M1", good.clone()),
        feature("N2", "M2", crate::harness::square(113.3, 28.0, 113.35, 28.05)),
    ]})
    .to_string();
    assert_eq!(
        gongzhi::grids::import_grids(&app.db, &text, &mapping)
            .await
            .expect("import"),
        2
    );
    assert_eq!(app.db.unit_count().await.expect("count"), before + 2);
    app.stop().await;
}
crate::db_test!(grid_import_is_all_or_nothing);
