//! The [core] API end to end.

use serde_json::json;

use crate::harness::{self, uuid, TestApp};
use crate::on_both;

on_both!(
    profile_and_settings_exist_from_the_first_request,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app
        .ok(
            &alice,
            "{ viewer { id email profile { id email displayName onboardingCompleted onboarding } settings { theme notifications features model } } }",
            json!({}),
        )
        .await;
        let viewer = &data["viewer"];
        assert_eq!(uuid(&viewer["id"]), alice.id);
        assert_eq!(viewer["email"], json!(alice.email));
        assert_eq!(viewer["profile"]["email"], json!(alice.email));
        assert_eq!(viewer["profile"]["displayName"], json!(null));
        assert_eq!(viewer["profile"]["onboardingCompleted"], json!(false));
        assert_eq!(viewer["profile"]["onboarding"], json!({}));
        assert_eq!(viewer["settings"]["theme"], json!({}));
        assert_eq!(viewer["settings"]["model"], json!(null));
    }
);
