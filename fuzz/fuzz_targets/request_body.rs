//! The form / execute request body: arbitrary bytes through the same parser the handlers use, and
//! whatever parses through `mark_suspicious`'s form and execute (service and user identity mode,
//! writing to a sink that keeps nothing) and through the pushed-attachment row reader.
#![no_main]

use std::sync::LazyLock;

use hub_core::actions::mark_suspicious::MarkSuspicious;
use hub_core::actions::Action;
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
    let _ = request.form_param("id");
    let _ = request.data_param("value");
    let _ = request
        .scheduled_plan
        .as_ref()
        .map(|p| p.hidden_fields().len());
    for hub in HUBS.iter() {
        if let Some(source @ (RowSource::Bytes(_) | RowSource::Base64(_))) =
            source_of(&mut request.clone(), &hub.http, hub.settings.download_deadline)
        {
            hub_fuzz::drain(source);
        }
        let meta = RequestMeta::default();
        hub_fuzz::RT.block_on(async {
            let _ = MarkSuspicious.form(hub, &meta, &request).await;
            let _ = MarkSuspicious.execute(hub, &meta, request.clone()).await;
        });
    }
});
