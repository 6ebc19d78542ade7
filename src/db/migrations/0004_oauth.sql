-- OAuth applications (PostHog's OAuthApplication on django-oauth-toolkit) and orgd's own
-- authorization server: codes, access tokens and refresh tokens, all stored as SHA-256 hashes.

CREATE TABLE oauth_applications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
  client_id text NOT NULL UNIQUE CHECK (length(client_id) BETWEEN 1 AND 2048),
  -- "sha256$<hex>"; null for public clients, which never authenticate with a secret.
  client_secret_hash text,
  client_type text NOT NULL CHECK (client_type IN ('confidential', 'public')),
  authorization_grant_type text NOT NULL DEFAULT 'authorization-code' CHECK (authorization_grant_type = 'authorization-code'),
  algorithm text NOT NULL DEFAULT 'RS256' CHECK (algorithm = 'RS256'),
  skip_authorization boolean NOT NULL DEFAULT false CHECK (skip_authorization = false),
  redirect_uris text NOT NULL CHECK (btrim(redirect_uris) <> ''),
  organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
  user_id integer REFERENCES users (id) ON DELETE SET NULL,
  is_verified boolean NOT NULL DEFAULT false,
  is_first_party boolean NOT NULL DEFAULT false,
  scopes text[] NOT NULL DEFAULT '{}',
  optional_scopes text[] NOT NULL DEFAULT '{}',
  created timestamptz NOT NULL DEFAULT now(),
  updated timestamptz NOT NULL DEFAULT now(),
  CHECK ((client_type = 'confidential') = (client_secret_hash IS NOT NULL)),
  -- Optional scopes only make sense next to a non-empty required set (PostHog's clean()).
  CHECK (cardinality(optional_scopes) = 0 OR cardinality(scopes) > 0)
);
-- The organization's list, newest first.
CREATE INDEX oauth_applications_org_created ON oauth_applications (organization_id, created DESC, id DESC);
-- The operator's list of every application (CLI), newest first.
CREATE INDEX oauth_applications_created ON oauth_applications (created DESC, id DESC);
CREATE INDEX oauth_applications_user ON oauth_applications (user_id);

CREATE TABLE oauth_authorization_codes (
  code_hash text PRIMARY KEY,
  -- One grant: the code and every token descended from it share this id, so a replayed code
  -- or refresh token can revoke the whole family.
  grant_id uuid NOT NULL DEFAULT gen_random_uuid(),
  application_id uuid NOT NULL REFERENCES oauth_applications (id) ON DELETE CASCADE,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  redirect_uri text NOT NULL,
  scopes text[] NOT NULL,
  code_challenge text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_codes_application ON oauth_authorization_codes (application_id);
CREATE INDEX oauth_codes_user ON oauth_authorization_codes (user_id);
CREATE INDEX oauth_codes_expires ON oauth_authorization_codes (expires_at);

CREATE TABLE oauth_access_tokens (
  id bigserial PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  grant_id uuid NOT NULL,
  application_id uuid NOT NULL REFERENCES oauth_applications (id) ON DELETE CASCADE,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  scopes text[] NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_access_tokens_grant ON oauth_access_tokens (grant_id);
CREATE INDEX oauth_access_tokens_application ON oauth_access_tokens (application_id);
CREATE INDEX oauth_access_tokens_user ON oauth_access_tokens (user_id);

CREATE TABLE oauth_refresh_tokens (
  id bigserial PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  grant_id uuid NOT NULL,
  application_id uuid NOT NULL REFERENCES oauth_applications (id) ON DELETE CASCADE,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  access_token_id bigint REFERENCES oauth_access_tokens (id) ON DELETE SET NULL,
  scopes text[] NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_application ON oauth_refresh_tokens (application_id);
CREATE INDEX oauth_refresh_tokens_user ON oauth_refresh_tokens (user_id);
CREATE INDEX oauth_refresh_tokens_access ON oauth_refresh_tokens (access_token_id);
