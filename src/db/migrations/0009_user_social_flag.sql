-- Whether a person has a linked social identity (a member's `has_social_auth`), kept on users.
-- Asked per member of a page, the EXISTS over social_identities ran one scan per row: on PGlite
-- every scan of a table asks the file's size (an fstat through the WebAssembly file system), and
-- those 100 scans were a quarter of a member page's time and most of its garbage.

ALTER TABLE users ADD COLUMN has_social_auth boolean NOT NULL DEFAULT false;

UPDATE users u SET has_social_auth = true
 WHERE EXISTS (SELECT 1 FROM social_identities s WHERE s.user_id = u.id);

CREATE FUNCTION orgd_user_social_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    UPDATE users SET has_social_auth = true WHERE id = NEW.user_id AND NOT has_social_auth;
  END IF;
  IF TG_OP = 'DELETE' OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
    -- The person's row is locked first, so that of two transactions removing a person's last two
    -- identities at once, the second reads the first's removal (a new snapshot per statement).
    PERFORM 1 FROM users WHERE id = OLD.user_id FOR UPDATE;
    UPDATE users SET has_social_auth = EXISTS (SELECT 1 FROM social_identities WHERE user_id = OLD.user_id)
     WHERE id = OLD.user_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER social_identities_flag AFTER INSERT OR DELETE OR UPDATE OF user_id ON social_identities
  FOR EACH ROW EXECUTE FUNCTION orgd_user_social_sync();
