-- Listing a user's messages under Row Level Security: does Postgres read other users' rows?
-- Run on an empty database that `confab migrate` prepared (Postgres):
--   createdb rls_explain
--   DATABASE_URL=postgres://postgres@127.0.0.1:5432/rls_explain confab migrate
--   psql -d rls_explain -f benches/rls_messages.sql
-- It fills the tables, then shows the plans as `authenticated` with user 11's claims,
-- as PostgREST would run them. README, "Row Level Security", has the figures.
SET search_path = confab;
-- 1000 users, 100 teams (an OWNER and four MEMBERs), 2 projects each (the first of a
-- member's in their team),
-- 10 chats each with 20 messages (200,000 messages), a third of the chats filed.
INSERT INTO profiles (id, email, display_name, onboarding_completed, onboarding, created_at, updated_at)
SELECT md5('u' || i)::uuid, 'u' || i || '@example.com', 'User ' || i, false, '{}', now(), now()
FROM generate_series(1, 1000) i;
INSERT INTO teams (id, name, tier, created_at, updated_at)
SELECT md5('t' || t)::uuid, 'Team ' || t, 'free', now(), now() FROM generate_series(1, 100) t;
INSERT INTO team_members (id, team_id, user_id, role, is_default, joined_at)
SELECT gen_random_uuid(), md5('t' || ((i - 1) / 10 + 1))::uuid, md5('u' || i)::uuid,
       CASE WHEN i % 10 = 1 THEN 'owner' WHEN i % 10 = 2 THEN 'admin' ELSE 'member' END, true, now()
FROM generate_series(1, 1000) i WHERE i % 2 = 1;
INSERT INTO projects (id, owner_id, team_id, title, status, is_public, metadata, created_at, updated_at)
SELECT md5('p' || i || '-' || k)::uuid, md5('u' || i)::uuid,
       CASE WHEN i % 2 = 1 AND k = 1 THEN md5('t' || ((i - 1) / 10 + 1))::uuid END,
       'Project ' || i || '-' || k, 'active', i % 7 = 0, '{}', now(), now()
FROM generate_series(1, 1000) i, generate_series(1, 2) k;
INSERT INTO conversations (id, owner_id, title, metadata, message_count, created_at, updated_at)
SELECT md5('c' || i || '-' || k)::uuid, md5('u' || i)::uuid, 'Chat ' || i || '-' || k, '{}', 20, now(), now()
FROM generate_series(1, 1000) i, generate_series(1, 10) k;
INSERT INTO project_conversations (project_id, conversation_id, created_at)
SELECT md5('p' || i || '-1')::uuid, md5('c' || i || '-' || k)::uuid, now()
FROM generate_series(1, 1000) i, generate_series(1, 10) k WHERE k % 3 = 0;
INSERT INTO messages (id, conversation_id, sequence, role, content, metadata, created_at, updated_at)
SELECT gen_random_uuid(), md5('c' || i || '-' || k)::uuid, s, 'user', 'message ' || s, '{}', now(), now()
FROM generate_series(1, 1000) i, generate_series(1, 10) k, generate_series(1, 20) s;
ANALYZE;
SET search_path = confab;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('sub', md5('u11'), 'role', 'authenticated')::text, true),
       set_config('request.jwt.claim.sub', md5('u11')::uuid::text, true);
\echo '--- every message user 11 may read (own chats and chats filed in their team''s projects)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING ON, SUMMARY ON) SELECT id, conversation_id, sequence FROM messages;
SELECT count(*) AS readable_messages FROM messages;
\echo '--- the last 20 messages of one chat of theirs'
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) SELECT id, sequence, content FROM messages
  WHERE conversation_id = md5('c11-1')::uuid ORDER BY sequence DESC LIMIT 20;
ROLLBACK;
