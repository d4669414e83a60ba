"""Numbered schema steps for PostgreSQL. Step N brings `schema_version` from N-1 to N; steps are never edited once
shipped.

Step 1 is the SQLite schema as it stands at its step 12, written for PostgreSQL, with one difference: every file
is a (host, path) pair, since one database serves the daemons of several machines. What SQLite keeps with
triggers (the tallies, the NSFW and favourite flags, the hidden side) is kept with triggers here too, so the store
code writes the same columns on both backends. Differences a reader of the store code should know:

- `meta_json` is `jsonb`; `nsfw`, `favorite`, `hidden` and `dir` are the database's to keep (a BEFORE trigger and
  a generated column), so no write can leave them out of step with the metadata, the tags or the path.
- Tag names are `citext` (case-insensitive like SQLite's NOCASE); model names sort by `lower(name)`.
- Full-text search is a trigram index (`pg_trgm`) on each model's searchable text, in place of FTS5's trigram
  tokenizer. Step 1 kept that text in a table of its own (`model_search`); step 2 moved it into the model's row
  (`models.search_doc`), so that a search walking a sort order's index tests each model on the row it reads
  anyway rather than looking it up elsewhere (a common word's search at 100,000 models: 6.7 ms of which 4.4 for
  the lookups, 2 ms with the text in the row; bench/postgres_vs_sqlite.py).
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the whole library, as SQLite's schema 12 holds it, with hosts.
    r"""
    CREATE EXTENSION IF NOT EXISTS citext;
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    -- A library write bumps the generation, so a daemon's cached counts know another daemon changed the library.
    CREATE TABLE store_state (
        one        boolean PRIMARY KEY DEFAULT true CHECK (one),
        generation bigint NOT NULL
    );
    INSERT INTO store_state VALUES (true, 0);

    -- Python's truthiness of a parsed JSON value: null, false, 0, "", [] and {} are false, and so is an absent key.
    CREATE FUNCTION hikaze_truthy(v jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS
        $$ SELECT v IS NOT NULL AND v NOT IN ('null', 'false', '0', '""', '[]', '{}') $$;

    -- A path's folder: the path without its last part, whichever separator it uses ('' for a bare name).
    CREATE FUNCTION hikaze_dir(path text) RETURNS text LANGUAGE sql IMMUTABLE AS
        $$ SELECT CASE WHEN path ~ '[/\\]' THEN regexp_replace(path, '[/\\][^/\\]*$', '') ELSE '' END $$;

    CREATE TABLE models (
        sha256        text PRIMARY KEY CHECK (length(sha256) = 64 AND sha256 = lower(sha256)),
        blake3        text,
        host          text NOT NULL,
        path          text NOT NULL,
        name          text NOT NULL,
        type          text NOT NULL,
        size_bytes    bigint NOT NULL,
        mtime_ns      bigint,
        inode         bigint,
        device        bigint,
        status        text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'missing')),
        created_at    double precision NOT NULL,
        updated_at    double precision NOT NULL,
        missing_since double precision,
        meta_json     jsonb NOT NULL DEFAULT '{}',
        base_model    text NOT NULL DEFAULT 'unknown',
        cover_seq     bigint,
        nsfw          integer NOT NULL DEFAULT 0,
        hidden        integer NOT NULL DEFAULT 0,
        favorite      integer NOT NULL DEFAULT 0,
        dir           text GENERATED ALWAYS AS (hikaze_dir(path)) STORED
    );
    CREATE INDEX models_path ON models (host, path);
    CREATE INDEX models_file ON models (host, device, inode);
    CREATE INDEX models_by_name ON models (status, lower(name), sha256);
    CREATE INDEX models_by_size ON models (status, size_bytes DESC, sha256);
    CREATE INDEX models_by_created ON models (status, created_at DESC, sha256);
    CREATE INDEX models_by_updated ON models (status, updated_at DESC, sha256);
    CREATE INDEX models_type ON models (type, status);
    CREATE INDEX models_by_base ON models (lower(base_model), status, nsfw, sha256);
    CREATE INDEX models_favorite ON models (status, sha256) WHERE favorite = 1;
    CREATE INDEX models_dir ON models (dir);

    CREATE TABLE tags (
        id   bigserial PRIMARY KEY,
        name citext NOT NULL UNIQUE
    );

    CREATE TABLE model_tags (
        sha256 text NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (sha256, tag_id)
    );
    CREATE INDEX model_tags_by_tag ON model_tags (tag_id, sha256);

    CREATE TABLE pending_import (
        id              bigserial PRIMARY KEY,
        host            text NOT NULL,
        path            text NOT NULL,
        size_bytes      bigint NOT NULL,
        mtime_ns        bigint NOT NULL,
        inode           bigint NOT NULL,
        device          bigint NOT NULL,
        type            text NOT NULL,
        name            text NOT NULL,
        status          text NOT NULL
                        CHECK (status IN ('settling', 'hashing', 'ready', 'conflict', 'error', 'ignored')),
        sha256          text,
        blake3          text,
        conflict_sha256 text,
        error           text,
        discovered_at   double precision NOT NULL,
        hashed_at       double precision,
        updated_at      double precision NOT NULL,
        meta_json       jsonb NOT NULL DEFAULT '{}',
        UNIQUE (host, path)
    );
    CREATE INDEX pending_status ON pending_import (status, type);
    CREATE INDEX pending_file ON pending_import (host, device, inode);
    CREATE INDEX pending_sha ON pending_import (sha256);

    CREATE TABLE pending_tags (
        pending_id bigint NOT NULL REFERENCES pending_import (id) ON DELETE CASCADE,
        tag_id     bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (pending_id, tag_id)
    );

    CREATE TABLE model_copies (
        host       text NOT NULL,
        path       text NOT NULL,
        sha256     text NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        size_bytes bigint NOT NULL,
        mtime_ns   bigint,
        inode      bigint,
        device     bigint,
        added_at   double precision NOT NULL,
        PRIMARY KEY (host, path)
    );
    CREATE INDEX model_copies_sha ON model_copies (sha256);

    CREATE TABLE images (
        sha256     text NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        seq        bigint NOT NULL,
        width      integer NOT NULL,
        height     integer NOT NULL,
        created_at double precision NOT NULL,
        PRIMARY KEY (sha256, seq)
    );
    -- Outlives its model on purpose: an image number is never given out twice for the same sha256, so an
    -- image URL always names the same picture and can be cached for good.
    CREATE TABLE image_seq (
        sha256   text PRIMARY KEY,
        next_seq bigint NOT NULL
    );
    CREATE TABLE pending_images (
        pending_id bigint NOT NULL REFERENCES pending_import (id) ON DELETE CASCADE,
        seq        bigint NOT NULL,
        width      integer NOT NULL,
        height     integer NOT NULL,
        source     text,
        created_at double precision NOT NULL,
        PRIMARY KEY (pending_id, seq)
    );

    -- What a model is found by, one row per model, written by the store in the transaction of every change to
    -- it; `doc` is all of it in lower case, which the trigram index answers `LIKE '%naut%'` from.
    CREATE TABLE model_search (
        sha256        text PRIMARY KEY REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        name          text NOT NULL DEFAULT '',
        file_name     text NOT NULL DEFAULT '',
        path          text NOT NULL DEFAULT '',
        tags          text NOT NULL DEFAULT '',
        description   text NOT NULL DEFAULT '',
        trigger_words text NOT NULL DEFAULT '',
        doc           text GENERATED ALWAYS AS (lower(
            name || ' ' || file_name || ' ' || path || ' ' || tags || ' ' || description || ' ' || trigger_words
        )) STORED
    );
    CREATE INDEX model_search_doc ON model_search USING gin (doc gin_trgm_ops);

    -- A login is to one host's daemon, under its auth_token.
    CREATE TABLE sessions (
        host       text NOT NULL,
        id_sha256  text NOT NULL,
        token_fp   text NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        PRIMARY KEY (host, id_sha256)
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);

    -- The folders each host mounts from a share that several hosts mount (a NAS), each named as on every host:
    -- a file there is the same file on each of them, at the share's folder on that host plus its path in it.
    CREATE TABLE shared_roots (
        host  text NOT NULL,
        root  text NOT NULL,
        share text NOT NULL,
        PRIMARY KEY (host, root)
    );
    -- A host hashing a share's file says so, so that the others wait for its hashes instead of reading it too.
    CREATE TABLE share_claims (
        share      text NOT NULL,
        rel        text NOT NULL,
        size_bytes bigint NOT NULL,
        mtime_ns   bigint NOT NULL,
        host       text NOT NULL,
        claimed_at double precision NOT NULL,
        PRIMARY KEY (share, rel)
    );

    -- A new database has no models and no rows waiting, so none of SQLite's upgrade chores.
    CREATE TABLE chores (name text PRIMARY KEY);

    -- Counts kept up to date instead of counted, as on SQLite (its migration 6 says why).
    CREATE TABLE model_tally (
        type       text NOT NULL,
        base_model text NOT NULL,
        status     text NOT NULL,
        hidden     integer NOT NULL,
        n          bigint NOT NULL,
        PRIMARY KEY (type, base_model, status, hidden)
    );
    CREATE TABLE tag_tally (
        tag_id     bigint NOT NULL,
        type       text NOT NULL,
        base_model text NOT NULL,
        status     text NOT NULL,
        hidden     integer NOT NULL,
        n          bigint NOT NULL,
        PRIMARY KEY (tag_id, type, base_model, status, hidden)
    );
    CREATE TABLE pending_tally (
        type   text NOT NULL,
        status text NOT NULL,
        n      bigint NOT NULL,
        PRIMARY KEY (type, status)
    );
    CREATE TABLE folder_tally (
        dir    text NOT NULL,
        type   text NOT NULL,
        status text NOT NULL,
        hidden integer NOT NULL,
        n      bigint NOT NULL,
        PRIMARY KEY (dir, type, status, hidden)
    );

    CREATE FUNCTION hikaze_pending_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE pending_tally SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO pending_tally VALUES (NEW.type, NEW.status, 1)
                ON CONFLICT (type, status) DO UPDATE SET n = pending_tally.n + 1;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER pending_added AFTER INSERT ON pending_import
        FOR EACH ROW EXECUTE FUNCTION hikaze_pending_tally();
    CREATE TRIGGER pending_removed AFTER DELETE ON pending_import
        FOR EACH ROW EXECUTE FUNCTION hikaze_pending_tally();
    CREATE TRIGGER pending_moved AFTER UPDATE OF type, status ON pending_import
        FOR EACH ROW WHEN (OLD.type IS DISTINCT FROM NEW.type OR OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION hikaze_pending_tally();

    -- The flags follow the metadata and the tags whatever wrote the row.
    CREATE FUNCTION hikaze_model_flags() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.nsfw := hikaze_truthy(NEW.meta_json -> 'nsfw')::integer;
        NEW.favorite := coalesce(NEW.meta_json -> 'favorite' IN ('true', '1'), false)::integer;
        NEW.hidden := (NEW.nsfw != 0 OR EXISTS (SELECT 1 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id
                                               WHERE mt.sha256 = NEW.sha256 AND t.name = 'nsfw'))::integer;
        RETURN NEW;
    END $$;
    CREATE TRIGGER model_flags BEFORE INSERT OR UPDATE ON models
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_flags();

    -- Before the row goes, its tags are counted out with it: the cascade that deletes them runs after the row is
    -- gone, when nothing would say which counts they were in.
    CREATE FUNCTION hikaze_model_removing() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE tag_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
            AND status = OLD.status AND hidden = OLD.hidden
            AND tag_id IN (SELECT tag_id FROM model_tags WHERE sha256 = OLD.sha256);
        RETURN OLD;
    END $$;
    CREATE TRIGGER model_removing BEFORE DELETE ON models
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_removing();

    CREATE FUNCTION hikaze_model_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counted boolean := TG_OP != 'UPDATE' OR (OLD.type, OLD.base_model, OLD.status, OLD.hidden, OLD.sha256)
            IS DISTINCT FROM (NEW.type, NEW.base_model, NEW.status, NEW.hidden, NEW.sha256);
        filed boolean := TG_OP != 'UPDATE' OR (OLD.dir, OLD.type, OLD.status, OLD.hidden)
            IS DISTINCT FROM (NEW.dir, NEW.type, NEW.status, NEW.hidden);
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND counted THEN
            UPDATE model_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
                AND status = OLD.status AND hidden = OLD.hidden;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND filed THEN
            UPDATE folder_tally SET n = n - 1 WHERE dir = OLD.dir AND type = OLD.type AND status = OLD.status
                AND hidden = OLD.hidden;
        END IF;
        IF TG_OP = 'UPDATE' AND counted THEN
            -- (a changed sha256 reaches model_tags by the cascade at the end of the statement: either key finds them)
            UPDATE tag_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
                AND status = OLD.status AND hidden = OLD.hidden
                AND tag_id IN (SELECT tag_id FROM model_tags WHERE sha256 IN (OLD.sha256, NEW.sha256));
            INSERT INTO tag_tally SELECT DISTINCT tag_id, NEW.type, NEW.base_model, NEW.status, NEW.hidden, 1
                FROM model_tags WHERE sha256 IN (OLD.sha256, NEW.sha256)
                ON CONFLICT (tag_id, type, base_model, status, hidden) DO UPDATE SET n = tag_tally.n + 1;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND counted THEN
            INSERT INTO model_tally VALUES (NEW.type, NEW.base_model, NEW.status, NEW.hidden, 1)
                ON CONFLICT (type, base_model, status, hidden) DO UPDATE SET n = model_tally.n + 1;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND filed THEN
            INSERT INTO folder_tally VALUES (NEW.dir, NEW.type, NEW.status, NEW.hidden, 1)
                ON CONFLICT (dir, type, status, hidden) DO UPDATE SET n = folder_tally.n + 1;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER model_tally AFTER INSERT OR UPDATE OR DELETE ON models
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_tally();

    -- A tag is counted on the side its model is on as the tag arrives or leaves (BEFORE the row, since the AFTER
    -- triggers of a statement run once all of its rows are written, which would count a model's earlier tags
    -- twice); the tag `nsfw` then moves the model, and so all its tags, to the other side: touching the row has
    -- `model_flags` decide anew. A tag removed with its model (the cascade) finds no model: `model_removing`
    -- counted it out already.
    CREATE FUNCTION hikaze_model_tag_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO tag_tally SELECT NEW.tag_id, type, base_model, status, hidden, 1 FROM models
                WHERE sha256 = NEW.sha256
                ON CONFLICT (tag_id, type, base_model, status, hidden) DO UPDATE SET n = tag_tally.n + 1;
            RETURN NEW;
        END IF;
        UPDATE tag_tally c SET n = c.n - 1 FROM models m WHERE m.sha256 = OLD.sha256 AND c.tag_id = OLD.tag_id
            AND (c.type, c.base_model, c.status, c.hidden) = (m.type, m.base_model, m.status, m.hidden);
        RETURN OLD;
    END $$;
    CREATE TRIGGER model_tag_adding BEFORE INSERT ON model_tags
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_tag_count();
    CREATE TRIGGER model_tag_removing BEFORE DELETE ON model_tags
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_tag_count();
    CREATE FUNCTION hikaze_model_tag_nsfw() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE models SET hidden = hidden WHERE sha256 = (CASE TG_OP WHEN 'INSERT' THEN NEW.sha256 ELSE OLD.sha256 END)
            AND EXISTS (SELECT 1 FROM tags WHERE id = (CASE TG_OP WHEN 'INSERT' THEN NEW.tag_id ELSE OLD.tag_id END)
                        AND name = 'nsfw');
        RETURN NULL;
    END $$;
    CREATE TRIGGER model_tag_added AFTER INSERT ON model_tags
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_tag_nsfw();
    CREATE TRIGGER model_tag_removed AFTER DELETE ON model_tags
        FOR EACH ROW EXECUTE FUNCTION hikaze_model_tag_nsfw();

    -- A tag's models lose it while its name still says whether it was `nsfw` (the cascade runs after the row is
    -- gone); its counts go with it.
    CREATE FUNCTION hikaze_tag_removing() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM model_tags WHERE tag_id = OLD.id;
        RETURN OLD;
    END $$;
    CREATE TRIGGER tag_removing BEFORE DELETE ON tags FOR EACH ROW EXECUTE FUNCTION hikaze_tag_removing();
    CREATE FUNCTION hikaze_tag_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM tag_tally WHERE tag_id = OLD.id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER tag_removed AFTER DELETE ON tags FOR EACH ROW EXECUTE FUNCTION hikaze_tag_removed();
    CREATE FUNCTION hikaze_tag_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE models SET hidden = hidden WHERE sha256 IN (SELECT sha256 FROM model_tags WHERE tag_id = NEW.id);
        RETURN NULL;
    END $$;
    CREATE TRIGGER tag_renamed AFTER UPDATE OF name ON tags
        FOR EACH ROW WHEN ((OLD.name = 'nsfw') IS DISTINCT FROM (NEW.name = 'nsfw'))
        EXECUTE FUNCTION hikaze_tag_renamed();
    """,
    # 2: the searchable text in the model's row. The rows are rewritten with the triggers off: nothing they keep
    # (flags, tallies, folders) depends on the new column.
    r"""
    ALTER TABLE models ADD COLUMN search_doc text NOT NULL DEFAULT '';
    ALTER TABLE models DISABLE TRIGGER USER;
    UPDATE models m SET search_doc = s.doc FROM model_search s WHERE s.sha256 = m.sha256;
    ALTER TABLE models ENABLE TRIGGER USER;
    DROP TABLE model_search;
    CREATE INDEX models_search_doc ON models USING gin (search_doc gin_trgm_ops);
    """,
    # 3: metadata from the web, as SQLite's step 13: what the sources said about a content is every host's; the
    # queue of lookups is each host's own (its daemon drains it).
    r"""
    CREATE TABLE web_lookups (
        sha256     text PRIMARY KEY,
        state      text NOT NULL CHECK (state IN ('found', 'not_found', 'failed')),
        source     text,
        checked_at double precision NOT NULL,
        notes      jsonb NOT NULL DEFAULT '[]',
        record     jsonb
    );
    CREATE TABLE lookup_queue (
        host       text NOT NULL,
        sha256     text NOT NULL,
        force      boolean NOT NULL DEFAULT false,
        queued_at  double precision NOT NULL,
        not_before double precision NOT NULL,
        attempts   integer NOT NULL DEFAULT 0,
        asks       integer NOT NULL DEFAULT 1,
        PRIMARY KEY (host, sha256)
    );
    CREATE INDEX lookup_queue_due ON lookup_queue (host, not_before, queued_at);
    """,
    # 4: what ComfyUI used, as SQLite's step 14. A use's id is every host's: two daemons given the same batch
    # count it once, by the key of `counted_uses`.
    r"""
    ALTER TABLE models ADD COLUMN use_count bigint NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN last_used_at double precision NOT NULL DEFAULT 0;
    CREATE INDEX models_by_last_used ON models (status, last_used_at DESC, sha256) INCLUDE (created_at, size_bytes);
    CREATE INDEX models_by_use ON models (status, use_count DESC, last_used_at DESC, sha256);
    CREATE TABLE counted_uses (
        id         text PRIMARY KEY,
        counted_at double precision NOT NULL
    );
    CREATE INDEX counted_uses_age ON counted_uses (counted_at);
    CREATE INDEX model_copies_file ON model_copies (host, device, inode);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
