//! `confab seed --demo`: a small data set for one demo user, written through the same
//! operations the API uses.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::auth::{UserClaims, Viewer};
use crate::domain::conversations::{self, NewConversation, NewMessage, SendMessage};
use crate::domain::profiles;
use crate::domain::projects::{self, NewProject, ProjectFilter};
use crate::error::AppResult;
use entity::enums::MessageRole;

/// The demo user's id (also the user of development mode's printed token).
pub const DEMO_USER: Uuid = Uuid::from_u128(0xde30_0000_0000_4000_8000_0000_0000_0001);
pub const DEMO_EMAIL: &str = "demo@confab.local";

pub fn demo_viewer() -> Viewer {
    Viewer::User(UserClaims {
        id: DEMO_USER,
        email: Some(DEMO_EMAIL.to_owned()),
        is_anonymous: false,
    })
}

/// Seeds the demo data once; returns false when the demo user already has projects.
pub async fn seed_demo(db: &DatabaseConnection) -> AppResult<bool> {
    let viewer = demo_viewer();
    if let Viewer::User(user) = &viewer {
        profiles::ensure_user(db, user, 0).await?;
    }
    let existing = projects::viewer_projects_query(
        &viewer,
        &ProjectFilter::default(),
        db.get_database_backend(),
    );
    if sea_orm::ConnectionTrait::query_one(db, &existing)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let work = projects::create_project(
        db,
        &viewer,
        NewProject {
            title: "Launch plan".into(),
            description: Some("Chats about the product launch".into()),
            is_public: false,
            team_id: None,
            metadata: None,
        },
    )
    .await?;
    projects::create_project(
        db,
        &viewer,
        NewProject {
            title: "Prompt library".into(),
            description: Some("Shared prompts, public".into()),
            is_public: true,
            team_id: None,
            metadata: None,
        },
    )
    .await?;
    let chat = conversations::create_conversation(
        db,
        &viewer,
        NewConversation {
            title: Some("Launch checklist".into()),
            model: Some("claude-sonnet".into()),
            project_id: Some(work.id),
            first_message: Some(NewMessage {
                role: MessageRole::User,
                content: "What should be on our launch checklist?".into(),
                metadata: None,
                token_count: Some(9),
                audio_url: None,
            }),
            ..Default::default()
        },
    )
    .await?;
    conversations::send_message(
        db,
        &viewer,
        SendMessage {
            conversation_id: chat.id,
            sequence: None,
            message: NewMessage {
                role: MessageRole::Assistant,
                content: "Docs, pricing page, status page, on-call rota, rollback plan.".into(),
                metadata: Some(serde_json::json!({ "model": "claude-sonnet", "latencyMs": 840 })),
                token_count: Some(18),
                audio_url: None,
            },
        },
    )
    .await?;
    conversations::create_conversation(
        db,
        &viewer,
        NewConversation {
            title: Some("Scratchpad".into()),
            ..Default::default()
        },
    )
    .await?;
    Ok(true)
}
