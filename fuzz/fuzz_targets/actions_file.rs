//! The actions file parser (`HUB_ACTIONS_FILE`, `hub check-actions`): no text panics or hangs;
//! a refusal lists at least one problem, each naming the file; an accepted file's actions all
//! have a table with its audit columns, a key column among them, and forms and answers that can
//! be built for an empty request without panicking, and its deployable copy is itself.
#![no_main]

use hub_core::api::ActionRequest;
use hub_core::declared::form;
use hub_core::declared::source::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match parse(text, "fuzz.yaml", None) {
        Err(problems) => {
            assert!(!problems.problems.is_empty());
            assert!(problems.problems.iter().all(|p| p.file == "fuzz.yaml"));
        }
        Ok(file) => {
            let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let req = ActionRequest::default();
            for a in &file.actions {
                assert!(a.table.columns.iter().any(|c| c.name == "request_id"));
                assert!(a.table.columns.iter().any(|c| c.name == a.key_column));
                let _ = a.definition("http://localhost");
                let _ = form::form_fields(a, &req, today);
                let _ = form::validate(a, &req, 100, today);
                let _ = hub_core::declared::emit::lookml_view(a, "fuzz.yaml");
                let _ = hub_core::declared::emit::bigquery_schema(a);
            }
            // Without a folder no icon is a file: the deployable copy is the text itself.
            let copy = hub_core::declared::emit::deployable_file(text, &file);
            assert_eq!(copy.as_deref(), Ok(text));
        }
    }
});
