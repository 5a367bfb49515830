-- ngx-music database bootstrap: the tables of Django 3.2's contenttypes, auth and musics apps,
-- plus django_migrations and the rows that record those migrations as applied.
--
-- Generated from the baseline Django project (shared/baseline/api, Django 3.2.25, PostgreSQL
-- backend, DEFAULT_AUTO_FIELD = BigAutoField) with
--     manage.py sqlmigrate <app> <migration>
-- for each migration of contenttypes, auth and musics, in the order of `manage.py migrate`'s
-- plan. The statements below are that output, verbatim (BEGIN/COMMIT dropped, the migrations
-- replayed in the same order, including the intermediate ALTERs), so the resulting tables,
-- sequences, constraints and index names are exactly Django's. django_migrations is what
-- MigrationRecorder.ensure_schema() creates with these settings.
--
-- Idempotent, one transaction, safe on a database Django already created:
--   * auth_user and music both exist        -> nothing at all is done;
--   * django_content_type missing           -> contenttypes 0001, 0002 created + recorded;
--   * all six auth_* tables missing         -> auth 0001..0012 created + recorded;
--     some but not all of them present      -> error (inconsistent database, nothing changed);
--   * music missing                         -> musics 0001 created + recorded;
--   * django_migrations missing             -> created.
--   * django_session missing                -> sessions 0001 created + recorded (also when
--                                              auth_user and music already exist).
-- Tables that already exist are never touched, and their migration rows are neither added nor
-- removed. A later `manage.py migrate` then applies only what is not recorded (admin).
-- Plain SQL (no psql meta-commands): can be run with psql or sent as one simple-query string.
-- Everything uses the connection's search_path, as Django does.

BEGIN;

DO $ngx_music_bootstrap$
DECLARE
    auth_tables CONSTANT text[] := ARRAY['auth_permission', 'auth_group', 'auth_group_permissions',
                                         'auth_user', 'auth_user_groups', 'auth_user_user_permissions'];
    n_auth integer;
    created_apps text[] := ARRAY[]::text[];
BEGIN
    -- serialize concurrent bootstraps (key: 'ngxmusic' as a big-endian int8)
    PERFORM pg_advisory_xact_lock(7955459678290536803);

    -- Sessions first, so a database made by an older bootstrap gains the table too.
    IF to_regclass('django_session') IS NULL THEN
        IF to_regclass('django_migrations') IS NULL THEN
            -- django.db.migrations.recorder.MigrationRecorder.ensure_schema()
            CREATE TABLE "django_migrations" ("id" bigserial NOT NULL PRIMARY KEY, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" timestamp with time zone NOT NULL);
        END IF;
        -- sqlmigrate sessions 0001_initial
        -- Create model Session
        CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL);
        CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date");
        CREATE INDEX "django_session_session_key_c0390e0f_like" ON "django_session" ("session_key" varchar_pattern_ops);
        INSERT INTO "django_migrations" ("app", "name", "applied")
        SELECT 'sessions', '0001_initial', now()
         WHERE NOT EXISTS (SELECT 1 FROM "django_migrations" d WHERE d.app = 'sessions' AND d.name = '0001_initial');
        RAISE NOTICE 'ngx-music bootstrap: created sessions';
    END IF;

    IF to_regclass('auth_user') IS NOT NULL AND to_regclass('music') IS NOT NULL THEN
        RAISE NOTICE 'ngx-music bootstrap: auth_user and music exist, schema left unchanged';
        RETURN;
    END IF;

    SELECT count(*) INTO n_auth FROM unnest(auth_tables) AS t(name) WHERE to_regclass(t.name) IS NOT NULL;
    IF n_auth NOT IN (0, cardinality(auth_tables)) THEN
        RAISE EXCEPTION 'ngx-music bootstrap: only % of the 6 auth_* tables exist; refusing to touch an inconsistent database', n_auth;
    END IF;

    IF to_regclass('django_migrations') IS NULL THEN
        -- django.db.migrations.recorder.MigrationRecorder.ensure_schema()
        CREATE TABLE "django_migrations" ("id" bigserial NOT NULL PRIMARY KEY, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" timestamp with time zone NOT NULL);
    END IF;

    IF to_regclass('django_content_type') IS NULL THEN
        -- sqlmigrate contenttypes 0001_initial
        -- Create model ContentType
        CREATE TABLE "django_content_type" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL, "app_label" varchar(100) NOT NULL, "model" varchar(100) NOT NULL);
        -- Alter unique_together for contenttype (1 constraint(s))
        ALTER TABLE "django_content_type" ADD CONSTRAINT "django_content_type_app_label_model_76bd3d3b_uniq" UNIQUE ("app_label", "model");
        created_apps := created_apps || 'contenttypes'::text;
    END IF;

    IF n_auth = 0 THEN
        -- sqlmigrate auth 0001_initial
        -- Create model Permission
        CREATE TABLE "auth_permission" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(50) NOT NULL, "content_type_id" integer NOT NULL, "codename" varchar(100) NOT NULL);
        -- Create model Group
        CREATE TABLE "auth_group" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(80) NOT NULL UNIQUE);
        CREATE TABLE "auth_group_permissions" ("id" bigserial NOT NULL PRIMARY KEY, "group_id" integer NOT NULL, "permission_id" integer NOT NULL);
        -- Create model User
        CREATE TABLE "auth_user" ("id" serial NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NOT NULL, "is_superuser" boolean NOT NULL, "username" varchar(30) NOT NULL UNIQUE, "first_name" varchar(30) NOT NULL, "last_name" varchar(30) NOT NULL, "email" varchar(75) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL);
        CREATE TABLE "auth_user_groups" ("id" bigserial NOT NULL PRIMARY KEY, "user_id" integer NOT NULL, "group_id" integer NOT NULL);
        CREATE TABLE "auth_user_user_permissions" ("id" bigserial NOT NULL PRIMARY KEY, "user_id" integer NOT NULL, "permission_id" integer NOT NULL);
        ALTER TABLE "auth_permission" ADD CONSTRAINT "auth_permission_content_type_id_codename_01ab375a_uniq" UNIQUE ("content_type_id", "codename");
        ALTER TABLE "auth_permission" ADD CONSTRAINT "auth_permission_content_type_id_2f476e4b_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX "auth_permission_content_type_id_2f476e4b" ON "auth_permission" ("content_type_id");
        CREATE INDEX "auth_group_name_a6ea08ec_like" ON "auth_group" ("name" varchar_pattern_ops);
        ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissions_group_id_permission_id_0cd325b0_uniq" UNIQUE ("group_id", "permission_id");
        ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissions_group_id_b120cbf9_fk_auth_group_id" FOREIGN KEY ("group_id") REFERENCES "auth_group" ("id") DEFERRABLE INITIALLY DEFERRED;
        ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissio_permission_id_84c5c92e_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX "auth_group_permissions_group_id_b120cbf9" ON "auth_group_permissions" ("group_id");
        CREATE INDEX "auth_group_permissions_permission_id_84c5c92e" ON "auth_group_permissions" ("permission_id");
        CREATE INDEX "auth_user_username_6821ab7c_like" ON "auth_user" ("username" varchar_pattern_ops);
        ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_user_id_group_id_94350c0c_uniq" UNIQUE ("user_id", "group_id");
        ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_user_id_6a12ed8b_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
        ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_group_id_97559544_fk_auth_group_id" FOREIGN KEY ("group_id") REFERENCES "auth_group" ("id") DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX "auth_user_groups_user_id_6a12ed8b" ON "auth_user_groups" ("user_id");
        CREATE INDEX "auth_user_groups_group_id_97559544" ON "auth_user_groups" ("group_id");
        ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permissions_user_id_permission_id_14a6b632_uniq" UNIQUE ("user_id", "permission_id");
        ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permissions_user_id_a95ead1b_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
        ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permi_permission_id_1fbb5f2c_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX "auth_user_user_permissions_user_id_a95ead1b" ON "auth_user_user_permissions" ("user_id");
        CREATE INDEX "auth_user_user_permissions_permission_id_1fbb5f2c" ON "auth_user_user_permissions" ("permission_id");
        created_apps := created_apps || 'auth'::text;
    END IF;

    IF 'contenttypes' = ANY (created_apps) THEN
        -- sqlmigrate contenttypes 0002_remove_content_type_name
        -- Change Meta options on contenttype
        -- Alter field name on contenttype
        ALTER TABLE "django_content_type" ALTER COLUMN "name" DROP NOT NULL;
        -- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL:
        -- Raw Python operation
        -- Remove field name from contenttype
        ALTER TABLE "django_content_type" DROP COLUMN "name" CASCADE;
    END IF;

    IF 'auth' = ANY (created_apps) THEN
        -- sqlmigrate auth 0002_alter_permission_name_max_length
        -- Alter field name on permission
        ALTER TABLE "auth_permission" ALTER COLUMN "name" TYPE varchar(255);
        -- sqlmigrate auth 0003_alter_user_email_max_length
        -- Alter field email on user
        ALTER TABLE "auth_user" ALTER COLUMN "email" TYPE varchar(254);
        -- sqlmigrate auth 0004_alter_user_username_opts
        -- Alter field username on user
        -- sqlmigrate auth 0005_alter_user_last_login_null
        -- Alter field last_login on user
        ALTER TABLE "auth_user" ALTER COLUMN "last_login" DROP NOT NULL;
        -- sqlmigrate auth 0006_require_contenttypes_0002
        -- (no SQL)
        -- sqlmigrate auth 0007_alter_validators_add_error_messages
        -- Alter field username on user
        -- sqlmigrate auth 0008_alter_user_username_max_length
        -- Alter field username on user
        ALTER TABLE "auth_user" ALTER COLUMN "username" TYPE varchar(150);
        -- sqlmigrate auth 0009_alter_user_last_name_max_length
        -- Alter field last_name on user
        ALTER TABLE "auth_user" ALTER COLUMN "last_name" TYPE varchar(150);
        -- sqlmigrate auth 0010_alter_group_name_max_length
        -- Alter field name on group
        ALTER TABLE "auth_group" ALTER COLUMN "name" TYPE varchar(150);
        -- sqlmigrate auth 0011_update_proxy_permissions
        -- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL:
        -- Raw Python operation
        -- sqlmigrate auth 0012_alter_user_first_name_max_length
        -- Alter field first_name on user
        ALTER TABLE "auth_user" ALTER COLUMN "first_name" TYPE varchar(150);
    END IF;

    IF to_regclass('music') IS NULL THEN
        -- sqlmigrate musics 0001_initial
        -- Create model Music
        CREATE TABLE "music" ("id" bigserial NOT NULL PRIMARY KEY, "song" text NOT NULL, "singer" text NOT NULL, "last_modify_date" timestamp with time zone NOT NULL, "created" timestamp with time zone NOT NULL);
        created_apps := created_apps || 'musics'::text;
    END IF;

    -- record the migrations of the apps created above, in the order `manage.py migrate` applies them
    INSERT INTO "django_migrations" ("app", "name", "applied")
    SELECT m.app, m.name, now()
      FROM (VALUES
            (1, 'contenttypes', '0001_initial'),
            (2, 'auth', '0001_initial'),
            (3, 'contenttypes', '0002_remove_content_type_name'),
            (4, 'auth', '0002_alter_permission_name_max_length'),
            (5, 'auth', '0003_alter_user_email_max_length'),
            (6, 'auth', '0004_alter_user_username_opts'),
            (7, 'auth', '0005_alter_user_last_login_null'),
            (8, 'auth', '0006_require_contenttypes_0002'),
            (9, 'auth', '0007_alter_validators_add_error_messages'),
            (10, 'auth', '0008_alter_user_username_max_length'),
            (11, 'auth', '0009_alter_user_last_name_max_length'),
            (12, 'auth', '0010_alter_group_name_max_length'),
            (13, 'auth', '0011_update_proxy_permissions'),
            (14, 'auth', '0012_alter_user_first_name_max_length'),
            (15, 'musics', '0001_initial')) AS m(ord, app, name)
     WHERE m.app = ANY (created_apps)
       AND NOT EXISTS (SELECT 1 FROM "django_migrations" d WHERE d.app = m.app AND d.name = m.name)
     ORDER BY m.ord;

    RAISE NOTICE 'ngx-music bootstrap: created %', CASE WHEN cardinality(created_apps) = 0 THEN 'nothing' ELSE array_to_string(created_apps, ', ') END;
END
$ngx_music_bootstrap$;

COMMIT;
