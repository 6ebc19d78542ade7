-- Dashboards: each new (non-demo) project starts with a pinned starter dashboard, which becomes
-- its primary_dashboard. Dashboards go with their environment; deleting one clears the pointer.

CREATE TABLE dashboards (
  id serial PRIMARY KEY,
  team_id integer NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  name text,
  pinned boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by_id integer REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX dashboards_team ON dashboards (team_id);

ALTER TABLE teams
  ADD CONSTRAINT teams_primary_dashboard_fkey FOREIGN KEY (primary_dashboard) REFERENCES dashboards (id) ON DELETE SET NULL;
