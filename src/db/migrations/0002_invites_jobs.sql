-- Durable background jobs (outbox), invites, project access rows, onboarding delegation.

CREATE TABLE jobs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 8,
  run_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  last_error text,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Workers claim due jobs, and jobs whose worker died (lock expired), in run_at order.
CREATE INDEX jobs_queued_due ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_running_lock ON jobs (locked_until) WHERE status = 'running';

CREATE TABLE invites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  target_email text NOT NULL,
  first_name text NOT NULL DEFAULT '',
  level smallint NOT NULL DEFAULT 1 CHECK (level IN (1, 8, 15)),
  created_by_id integer REFERENCES users (id) ON DELETE SET NULL,
  message text,
  private_project_access jsonb,
  emailing_attempt_made boolean NOT NULL DEFAULT false,
  is_setup_delegation boolean NOT NULL DEFAULT false,
  email_job_id bigint REFERENCES jobs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Every create replaces earlier invites for the same address, so there is at most one per
-- organization and (case-insensitive) email; the index makes that hold under concurrency.
CREATE UNIQUE INDEX invites_org_email_key ON invites (organization_id, lower(target_email));
CREATE INDEX invites_org_created ON invites (organization_id, created_at DESC, id DESC);
CREATE INDEX invites_created_by ON invites (created_by_id);

-- Project access (PostHog's access_control rows for resource "project"): a row with no
-- membership is the project's default; a row with one is that member's level.
CREATE TABLE project_access (
  id serial PRIMARY KEY,
  project_id integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  membership_id uuid REFERENCES memberships (id) ON DELETE CASCADE,
  access_level text NOT NULL CHECK (access_level IN ('none', 'member', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE NULLS NOT DISTINCT (project_id, membership_id)
);
CREATE INDEX project_access_membership ON project_access (membership_id);

ALTER TABLE users
  ADD COLUMN onboarding_delegated_to_invite_id uuid REFERENCES invites (id) ON DELETE SET NULL,
  ADD COLUMN onboarding_delegated_to_organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
  ADD COLUMN onboarding_skipped_at timestamptz,
  ADD COLUMN onboarding_skipped_reason text,
  ADD COLUMN onboarding_delegation_accepted_at timestamptz;
CREATE INDEX users_delegated_invite ON users (onboarding_delegated_to_invite_id) WHERE onboarding_delegated_to_invite_id IS NOT NULL;
