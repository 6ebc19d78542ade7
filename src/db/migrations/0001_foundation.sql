-- Foundation: people, organizations, memberships, keys, sessions, projects and the activity log.
-- Postgres 15 features only: PGlite (Postgres 18) and production PostgreSQL share this file.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  logo_media_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  available_product_features jsonb NOT NULL DEFAULT '[]'::jsonb,
  members_can_invite boolean NOT NULL DEFAULT true,
  members_can_create_projects boolean NOT NULL DEFAULT true,
  members_can_use_personal_api_keys boolean NOT NULL DEFAULT true,
  allow_publicly_shared_resources boolean NOT NULL DEFAULT true,
  is_member_join_email_enabled boolean NOT NULL DEFAULT true,
  enforce_2fa boolean,
  is_ai_data_processing_approved boolean,
  default_experiment_stats_method text NOT NULL DEFAULT 'bayesian',
  customer_id text,
  plugins_access_level smallint NOT NULL DEFAULT 9,
  -- Members whose user is active and not a bot, kept by triggers in the same transaction as the
  -- change, so a page of members never pays for an exact count over the join.
  member_count integer NOT NULL DEFAULT 0
);

CREATE TABLE users (
  id serial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  email text NOT NULL,
  password_hash text,
  first_name text NOT NULL DEFAULT '',
  last_name text NOT NULL DEFAULT '',
  distinct_id text UNIQUE,
  is_staff boolean NOT NULL DEFAULT false,
  is_active boolean NOT NULL DEFAULT true,
  is_email_verified boolean,
  role_at_organization text,
  hedgehog_config jsonb,
  last_login timestamptz,
  date_joined timestamptz NOT NULL DEFAULT now(),
  current_organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
  current_team_id integer,
  is_2fa_enabled boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
-- Member search matches first name, last name and email with trigrams and substrings.
CREATE INDEX users_search_trgm ON users USING gin ((lower(first_name || ' ' || last_name || ' ' || email)) gin_trgm_ops);

CREATE TABLE memberships (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  level smallint NOT NULL DEFAULT 1 CHECK (level IN (1, 8, 15)),
  invited_by_id integer REFERENCES users (id) ON DELETE SET NULL,
  joined_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_org_joined ON memberships (organization_id, joined_at DESC, id DESC);
CREATE INDEX memberships_org_updated ON memberships (organization_id, updated_at);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE projects (
  id serial PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_org ON projects (organization_id, id);

-- The environment ("team") of a project. The main environment shares the project's id.
CREATE TABLE teams (
  id integer PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  project_id integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  api_token text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_org ON teams (organization_id, id);
CREATE INDEX teams_project ON teams (project_id);

ALTER TABLE users ADD CONSTRAINT users_current_team_fk FOREIGN KEY (current_team_id) REFERENCES teams (id) ON DELETE SET NULL;

CREATE TABLE personal_api_keys (
  id text PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  label text NOT NULL,
  secure_value text NOT NULL UNIQUE,
  mask_value text NOT NULL,
  scopes text[],
  scoped_teams integer[],
  scoped_organizations text[],
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  last_rolled_at timestamptz
);
CREATE INDEX personal_api_keys_user ON personal_api_keys (user_id, created_at DESC);

CREATE TABLE sessions (
  id text PRIMARY KEY, -- sha256 of the cookie value
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_token text NOT NULL,
  authenticated_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Identities from social sign-in (GitHub), for `github_login` and `has_social_auth`.
CREATE TABLE social_identities (
  id serial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider text NOT NULL,
  uid text NOT NULL,
  login text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, uid)
);
CREATE INDEX social_identities_user ON social_identities (user_id, provider);

-- Per-user integrations (a GitHub user integration wins over the social identity for github_login).
CREATE TABLE user_integrations (
  id serial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind text NOT NULL,
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, kind)
);

CREATE TABLE activity_log (
  id bigserial PRIMARY KEY,
  organization_id uuid,
  team_id integer,
  user_id integer,
  is_system boolean NOT NULL DEFAULT false,
  scope text NOT NULL,
  item_id text NOT NULL,
  activity text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_log_org ON activity_log (organization_id, created_at DESC);
CREATE INDEX activity_log_item ON activity_log (scope, item_id);

-- member_count: +1/-1 as listed memberships come and go.
CREATE FUNCTION orgd_user_listed(uid integer) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT is_active AND email NOT LIKE '%@posthogbot.user' FROM users WHERE id = uid), false)
$$;

CREATE FUNCTION orgd_membership_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF orgd_user_listed(NEW.user_id) THEN
      UPDATE organizations SET member_count = member_count + 1 WHERE id = NEW.organization_id;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF orgd_user_listed(OLD.user_id) THEN
      UPDATE organizations SET member_count = member_count - 1 WHERE id = OLD.organization_id;
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER memberships_count AFTER INSERT OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION orgd_membership_count();

CREATE FUNCTION orgd_user_listed_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was boolean := OLD.is_active AND OLD.email NOT LIKE '%@posthogbot.user';
  now_listed boolean := NEW.is_active AND NEW.email NOT LIKE '%@posthogbot.user';
BEGIN
  IF was <> now_listed THEN
    UPDATE organizations o SET member_count = member_count + CASE WHEN now_listed THEN 1 ELSE -1 END
      FROM memberships m WHERE m.user_id = NEW.id AND o.id = m.organization_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER users_listed_count AFTER UPDATE OF is_active, email ON users
  FOR EACH ROW EXECUTE FUNCTION orgd_user_listed_count();

-- Every organization keeps at least one owner, whatever the concurrency: the check locks the
-- organization row, so two owners demoting each other are serialized and the second one sees the
-- first one's commit and fails.
CREATE FUNCTION orgd_keep_an_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.level <> 15 OR (TG_OP = 'UPDATE' AND NEW.level = 15 AND NEW.organization_id = OLD.organization_id) THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM organizations WHERE id = OLD.organization_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL; -- the organization itself is being deleted
  END IF;
  IF NOT EXISTS (SELECT 1 FROM memberships WHERE organization_id = OLD.organization_id AND level = 15) THEN
    RAISE EXCEPTION 'organization % must keep at least one owner', OLD.organization_id USING ERRCODE = 'OG001';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER memberships_keep_an_owner AFTER UPDATE OF level, organization_id OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION orgd_keep_an_owner();
