-- Removes what build/sql/auth_listen.sql installed. Workers with `music_auth_listen on` then
-- hear nothing and their caches keep the music_auth_cache_valid bound. Safe to run twice.
BEGIN;
-- no NOTICE for the IF EXISTS that finds nothing
SET LOCAL client_min_messages = warning;
DROP TRIGGER IF EXISTS ngx_music_auth_user_changed ON auth_user;
DROP TRIGGER IF EXISTS ngx_music_auth_user_truncated ON auth_user;
DROP TRIGGER IF EXISTS ngx_music_auth_session_changed ON django_session;
DROP TRIGGER IF EXISTS ngx_music_auth_session_truncated ON django_session;
DROP FUNCTION IF EXISTS ngx_music_auth_user_changed();
DROP FUNCTION IF EXISTS ngx_music_auth_session_changed();
DROP FUNCTION IF EXISTS ngx_music_auth_truncated();
COMMIT;
