-- Member search reads memberships alone. The person's searchable text, their first name (the
-- order of exact matches) and whether they are listed are copied onto each membership, so that
-- a search in a 100,000-member organization is one trigram-index lookup plus a top-N sort over
-- narrow rows, instead of a join from every matching person in every organization to their
-- memberships. Triggers keep the copies right whatever writes the users or memberships.
--
-- The fields are joined with chr(1) rather than a space: a substring test on the joined text then
-- matches exactly when one field contains the term (a term cannot straddle two fields), and
-- pg_trgm still sees chr(1) as a word boundary.

ALTER TABLE memberships
  ADD COLUMN search_text text NOT NULL DEFAULT '',
  ADD COLUMN sort_name text NOT NULL DEFAULT '',
  ADD COLUMN listed boolean NOT NULL DEFAULT true;

CREATE FUNCTION orgd_search_text(first_name text, last_name text, email text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$ SELECT lower(first_name || chr(1) || last_name || chr(1) || email) $$;

UPDATE memberships m
   SET search_text = orgd_search_text(u.first_name, u.last_name, u.email),
       sort_name = u.first_name,
       listed = u.is_active AND u.email NOT LIKE '%@posthogbot.user'
  FROM users u WHERE u.id = m.user_id;

CREATE FUNCTION orgd_membership_search_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT orgd_search_text(u.first_name, u.last_name, u.email), u.first_name,
         u.is_active AND u.email NOT LIKE '%@posthogbot.user'
    INTO NEW.search_text, NEW.sort_name, NEW.listed
    FROM users u WHERE u.id = NEW.user_id;
  RETURN NEW;
END $$;
CREATE TRIGGER memberships_search_fill BEFORE INSERT OR UPDATE OF user_id ON memberships
  FOR EACH ROW EXECUTE FUNCTION orgd_membership_search_fill();

CREATE FUNCTION orgd_user_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE memberships
     SET search_text = orgd_search_text(NEW.first_name, NEW.last_name, NEW.email),
         sort_name = NEW.first_name,
         listed = NEW.is_active AND NEW.email NOT LIKE '%@posthogbot.user'
   WHERE user_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER users_search_sync AFTER UPDATE OF first_name, last_name, email, is_active ON users
  FOR EACH ROW
  WHEN (OLD.first_name IS DISTINCT FROM NEW.first_name OR OLD.last_name IS DISTINCT FROM NEW.last_name
        OR OLD.email IS DISTINCT FROM NEW.email OR OLD.is_active IS DISTINCT FROM NEW.is_active)
  EXECUTE FUNCTION orgd_user_search_sync();

-- Substring and word-similarity candidates.
CREATE INDEX memberships_search_trgm ON memberships USING gin (search_text gin_trgm_ops);
-- Exact matches in name order: a page is read from this index alone (the text is included), so
-- it stops after `limit` hits without touching the table.
CREATE INDEX memberships_org_search_order ON memberships (organization_id, sort_name, id) INCLUDE (search_text) WHERE listed;
-- Member search no longer reads users through the trigram index.
DROP INDEX users_search_trgm;
