-- Projects: every setting of PostHog's project/team serializer, name uniqueness, deletion state,
-- the internal-users cohort each project starts with, and indexes for the project lists.

ALTER TABLE projects
  ADD COLUMN product_description text,
  ADD COLUMN is_pending_deletion boolean NOT NULL DEFAULT false,
  ADD COLUMN tags jsonb NOT NULL DEFAULT '[]'::jsonb;

-- One live project per (organization, case-insensitive name): enforced here so concurrent creates
-- of one name give one success and one conflict. Names are stored trimmed. A project being
-- deleted frees its name, as PostHog's check ignores those.
CREATE UNIQUE INDEX projects_org_name_key ON projects (organization_id, lower(name)) WHERE NOT is_pending_deletion;
-- `search` on the project list is a substring match on the name.
CREATE INDEX projects_name_trgm ON projects USING gin (lower(name) gin_trgm_ops);

ALTER TABLE teams
  ADD COLUMN app_urls jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN anonymize_ips boolean NOT NULL DEFAULT false,
  ADD COLUMN completed_snippet_onboarding boolean NOT NULL DEFAULT false,
  ADD COLUMN ingested_event boolean NOT NULL DEFAULT false,
  ADD COLUMN test_account_filters jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN test_account_filters_default_checked boolean,
  ADD COLUMN path_cleaning_filters jsonb DEFAULT '[]'::jsonb,
  ADD COLUMN is_demo boolean NOT NULL DEFAULT false,
  ADD COLUMN timezone text NOT NULL DEFAULT 'UTC',
  ADD COLUMN data_attributes jsonb NOT NULL DEFAULT '["data-attr"]'::jsonb,
  ADD COLUMN person_display_name_properties jsonb,
  ADD COLUMN correlation_config jsonb DEFAULT '{}'::jsonb,
  ADD COLUMN autocapture_opt_out boolean,
  ADD COLUMN autocapture_exceptions_opt_in boolean,
  ADD COLUMN autocapture_web_vitals_opt_in boolean,
  ADD COLUMN autocapture_web_vitals_allowed_metrics jsonb,
  ADD COLUMN autocapture_exceptions_errors_to_ignore jsonb,
  ADD COLUMN capture_console_log_opt_in boolean DEFAULT true,
  ADD COLUMN capture_performance_opt_in boolean DEFAULT true,
  ADD COLUMN session_recording_opt_in boolean NOT NULL DEFAULT false,
  ADD COLUMN session_recording_sample_rate numeric(3, 2),
  ADD COLUMN session_recording_minimum_duration_milliseconds integer,
  ADD COLUMN session_recording_linked_flag jsonb,
  ADD COLUMN session_recording_network_payload_capture_config jsonb,
  ADD COLUMN session_recording_masking_config jsonb,
  ADD COLUMN session_recording_url_trigger_config jsonb DEFAULT '[]'::jsonb,
  ADD COLUMN session_recording_url_blocklist_config jsonb DEFAULT '[]'::jsonb,
  ADD COLUMN session_recording_event_trigger_config jsonb DEFAULT '[]'::jsonb,
  ADD COLUMN session_recording_trigger_match_type_config text,
  ADD COLUMN session_recording_trigger_groups jsonb,
  ADD COLUMN session_recording_retention_period text NOT NULL DEFAULT '30d',
  ADD COLUMN session_replay_config jsonb,
  ADD COLUMN survey_config jsonb,
  ADD COLUMN access_control boolean NOT NULL DEFAULT false,
  ADD COLUMN week_start_day smallint,
  ADD COLUMN primary_dashboard integer,
  ADD COLUMN live_events_columns jsonb,
  ADD COLUMN recording_domains jsonb,
  ADD COLUMN inject_web_apps boolean,
  ADD COLUMN extra_settings jsonb,
  ADD COLUMN modifiers jsonb,
  ADD COLUMN has_completed_onboarding_for jsonb,
  ADD COLUMN surveys_opt_in boolean,
  ADD COLUMN heatmaps_opt_in boolean,
  ADD COLUMN flags_persistence_default boolean DEFAULT false,
  ADD COLUMN secret_api_token text UNIQUE,
  ADD COLUMN secret_api_token_backup text,
  ADD COLUMN receive_org_level_activity_logs boolean DEFAULT false,
  ADD COLUMN business_model text,
  ADD COLUMN conversations_enabled boolean,
  ADD COLUMN conversations_settings jsonb,
  ADD COLUMN logs_settings jsonb,
  ADD COLUMN proactive_tasks_enabled boolean,
  ADD COLUMN revenue_analytics_config jsonb NOT NULL DEFAULT '{"base_currency": "USD", "events": [], "goals": [], "filter_test_accounts": false}'::jsonb,
  ADD COLUMN marketing_analytics_config jsonb NOT NULL DEFAULT '{"sources_map": {}, "conversion_goals": [], "attribution_window_days": 90, "attribution_mode": "last_touch", "campaign_name_mappings": {}, "custom_source_mappings": {}, "campaign_field_preferences": {}}'::jsonb,
  ADD COLUMN customer_analytics_config jsonb NOT NULL DEFAULT '{"activity_event": {"kind": "EventsNode", "event": "$pageview", "name": "$pageview"}, "signup_pageview_event": {}, "signup_event": {}, "subscription_event": {}, "payment_event": {}, "account_group_type_index": null}'::jsonb,
  ADD COLUMN workflows_config jsonb NOT NULL DEFAULT '{"capture_workflows_engagement_events": false, "email_tracking_consent_mode": "off"}'::jsonb,
  ADD COLUMN feature_flag_policy_config jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN base_currency text NOT NULL DEFAULT 'USD',
  ADD COLUMN capture_dead_clicks boolean DEFAULT false,
  ADD COLUMN cookieless_server_hash_mode smallint DEFAULT 0,
  ADD COLUMN human_friendly_comparison_periods boolean DEFAULT false,
  ADD COLUMN feature_flag_confirmation_enabled boolean DEFAULT false,
  ADD COLUMN feature_flag_confirmation_message text,
  ADD COLUMN default_evaluation_contexts_enabled boolean DEFAULT false,
  ADD COLUMN require_evaluation_contexts boolean DEFAULT false,
  ADD COLUMN default_data_theme integer,
  ADD COLUMN onboarding_tasks jsonb,
  ADD COLUMN web_analytics_pre_aggregated_tables_enabled boolean DEFAULT false;

-- The "Internal / Test users" cohort every project starts with; test_account_filters point at it.
CREATE TABLE cohorts (
  id serial PRIMARY KEY,
  team_id integer NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  name text NOT NULL,
  kind text,
  filters jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_by_id integer REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cohorts_team ON cohorts (team_id);

-- Demo projects are counted apart from the plan's project limit.
CREATE INDEX teams_org_demo ON teams (organization_id, is_demo);
-- Deleting a project clears it from keys restricted to it.
CREATE INDEX personal_api_keys_scoped_teams ON personal_api_keys USING gin (scoped_teams);
CREATE INDEX users_current_team ON users (current_team_id);
