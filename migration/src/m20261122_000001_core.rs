//! The core: profiles, settings, projects, conversations, messages and the
//! project↔conversation links. Every user-owned row cascades from its profile so that
//! deleting an account removes everything the user owns.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    name: &str,
    from: (&'static str, &'static str),
    to: (&'static str, &'static str),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("profiles")
                    .col(uuid("id").primary_key())
                    .col(string_null("email"))
                    .col(string_null("display_name"))
                    .col(string_null("full_name"))
                    .col(string_null("avatar_url"))
                    .col(boolean("onboarding_completed").default(false))
                    .col(json_binary("onboarding"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("profiles_email_idx")
                    .table("profiles")
                    .col("email")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("settings")
                    .col(uuid("user_id").primary_key())
                    .col(string_null("model"))
                    .col(text_null("system_prompt"))
                    .col(json_binary("theme"))
                    .col(string_null("language"))
                    .col(string_null("timezone"))
                    .col(json_binary("notifications"))
                    .col(json_binary("features"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "settings_user_fk",
                        ("settings", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .col(uuid("id").primary_key())
                    .col(uuid("owner_id"))
                    .col(uuid_null("team_id"))
                    .col(string("title"))
                    .col(text_null("description"))
                    .col(string_len("status", 16).default("active"))
                    .col(boolean("is_public").default(false))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("deleted_at"))
                    .foreign_key(&mut fk(
                        "projects_owner_fk",
                        ("projects", "owner_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("projects_owner_idx", &["owner_id", "updated_at"][..]),
            ("projects_team_idx", &["team_id"][..]),
            (
                "projects_public_idx",
                &["is_public", "status", "updated_at"][..],
            ),
        ] {
            let mut index = Index::create().name(name).table("projects").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("conversations")
                    .col(uuid("id").primary_key())
                    .col(uuid("owner_id"))
                    .col(string_null("title"))
                    .col(string_null("model"))
                    .col(string_len("status", 16).default("active"))
                    .col(boolean("pinned").default(false))
                    .col(boolean("encrypted").default(false))
                    .col(json_binary("metadata"))
                    .col(integer("message_count").default(0))
                    .col(big_integer("total_tokens").default(0))
                    .col(timestamp_with_time_zone_null("last_message_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "conversations_owner_fk",
                        ("conversations", "owner_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("conversations_owner_idx")
                    .table("conversations")
                    .col("owner_id")
                    .col("updated_at")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(uuid("id").primary_key())
                    .col(uuid("conversation_id"))
                    .col(integer("sequence"))
                    .col(string_len("role", 16))
                    .col(text("content"))
                    .col(json_binary("metadata"))
                    .col(integer_null("token_count"))
                    .col(json_binary_null("feedback"))
                    .col(text_null("audio_url"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "messages_conversation_fk",
                        ("messages", "conversation_id"),
                        ("conversations", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_conversation_sequence_key")
                    .table("messages")
                    .col("conversation_id")
                    .col("sequence")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project_conversations")
                    .col(uuid("project_id"))
                    .col(uuid("conversation_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("project_id").col("conversation_id"))
                    .foreign_key(&mut fk(
                        "project_conversations_project_fk",
                        ("project_conversations", "project_id"),
                        ("projects", "id"),
                    ))
                    .foreign_key(&mut fk(
                        "project_conversations_conversation_fk",
                        ("project_conversations", "conversation_id"),
                        ("conversations", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("project_conversations_conversation_idx")
                    .table("project_conversations")
                    .col("conversation_id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "project_conversations",
            "messages",
            "conversations",
            "projects",
            "settings",
            "profiles",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
