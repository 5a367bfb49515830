-- Triggers that tell nginx workers with `music_auth_listen on` which cached credentials and
-- sessions to drop, at commit, on the channel ngx_music_auth. Opt-in: build/bootstrap-db
-- applies this file when MUSIC_AUTH_LISTEN=1; build/sql/auth_listen_drop.sql removes it.
-- Applying it twice changes nothing.
--
-- Any role that can connect may LISTEN on any channel, so the payloads name only what to
-- drop, never a password hash or a session key:
--   'user <id>'          a user's password, is_active or username changed, or it was deleted
--   'session <sha256>'   a session row was deleted, or its data changed (hex SHA-256 of the
--                        key: a key is 32 random characters, its digest gives no cookie back)
--   'all'                auth_user or django_session was truncated
--
-- The comparisons are in the functions, not in the triggers' WHEN or UPDATE OF: a trigger
-- that names a column would stop a later Django migration from altering that column.
BEGIN;
-- no NOTICE for the IF EXISTS that finds nothing
SET LOCAL client_min_messages = warning;

CREATE OR REPLACE FUNCTION ngx_music_auth_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ngx_music_auth', 'user ' || OLD.id);
    ELSIF OLD.password IS DISTINCT FROM NEW.password
       OR OLD.is_active IS DISTINCT FROM NEW.is_active
       OR OLD.username IS DISTINCT FROM NEW.username
       OR OLD.id IS DISTINCT FROM NEW.id THEN
        PERFORM pg_notify('ngx_music_auth', 'user ' || OLD.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ngx_music_auth_session_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- an update that only extends the expiry (Django's save on activity) changes nothing a
    -- cache holds
    IF TG_OP = 'DELETE'
       OR OLD.session_key IS DISTINCT FROM NEW.session_key
       OR OLD.session_data IS DISTINCT FROM NEW.session_data
       OR NEW.expire_date < OLD.expire_date THEN
        PERFORM pg_notify('ngx_music_auth',
            'session ' || encode(sha256(convert_to(OLD.session_key, 'UTF8')), 'hex'));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ngx_music_auth_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ngx_music_auth', 'all');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS ngx_music_auth_user_changed ON auth_user;
CREATE TRIGGER ngx_music_auth_user_changed AFTER UPDATE OR DELETE ON auth_user
    FOR EACH ROW EXECUTE FUNCTION ngx_music_auth_user_changed();
DROP TRIGGER IF EXISTS ngx_music_auth_user_truncated ON auth_user;
CREATE TRIGGER ngx_music_auth_user_truncated AFTER TRUNCATE ON auth_user
    FOR EACH STATEMENT EXECUTE FUNCTION ngx_music_auth_truncated();

DROP TRIGGER IF EXISTS ngx_music_auth_session_changed ON django_session;
CREATE TRIGGER ngx_music_auth_session_changed AFTER UPDATE OR DELETE ON django_session
    FOR EACH ROW EXECUTE FUNCTION ngx_music_auth_session_changed();
DROP TRIGGER IF EXISTS ngx_music_auth_session_truncated ON django_session;
CREATE TRIGGER ngx_music_auth_session_truncated AFTER TRUNCATE ON django_session
    FOR EACH STATEMENT EXECUTE FUNCTION ngx_music_auth_truncated();

COMMIT;
