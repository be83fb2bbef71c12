//! The form / execute request body: arbitrary bytes through the same parser the handlers use, and
//! whatever parses through the built-in `mark_suspicious`'s form and execute (a declared action;
//! service and user identity mode, writing to a sink that keeps nothing) and through the
//! pushed-attachment row reader.
#![no_main]

use std::sync::LazyLock;

use hub_core::meta::RequestMeta;
use hub_core::rows::{source_of, RowSource};
use hub_core::startup::Hub;
use libfuzzer_sys::fuzz_target;

static HUBS: LazyLock<[Hub; 2]> = LazyLock::new(|| [hub_fuzz::hub(false), hub_fuzz::hub(true)]);

fuzz_target!(|body: &[u8]| {
    let Ok(request) = hub_core::http::parse_request(body) else {
        return;
    };
    // What a handler would see of the request.
    let _ = request.form_text("id");
    let _ = request.data_param("value");
    let _ = request
        .scheduled_plan
        .as_ref()
        .map(|p| p.hidden_fields().len());
    for hub in HUBS.iter() {
        if let Some(source @ (RowSource::Bytes(_) | RowSource::Base64(_))) = source_of(
            &mut request.clone(),
            &hub.http,
            hub.settings.capacity.execute.answer_by(),
        ) {
            hub_fuzz::drain(source);
        }
        let meta = RequestMeta::default();
        let ctx = hub.action_context(&meta);
        let Some(action) = hub.registry.get("mark_suspicious") else {
            return;
        };
        hub_fuzz::RT.block_on(async {
            let _ = action.form(&ctx, &request).await;
            let _ = action.execute(&ctx, request.clone()).await;
        });
    }
});
