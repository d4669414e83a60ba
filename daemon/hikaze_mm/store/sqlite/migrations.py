"""Numbered schema steps. Step N brings `PRAGMA user_version` from N-1 to N; steps are never edited once shipped."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the library, its tags and the import queue.
    """
    CREATE TABLE models (
        sha256       TEXT PRIMARY KEY CHECK (length(sha256) = 64 AND sha256 = lower(sha256)),
        blake3       TEXT,
        path         TEXT NOT NULL,
        name         TEXT NOT NULL,
        type         TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL,
        mtime_ns     INTEGER,
        inode        INTEGER,
        device       INTEGER,
        status       TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'missing')),
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL,
        missing_since REAL,
        meta_json    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX models_path ON models (path);
    CREATE INDEX models_file ON models (device, inode);
    CREATE INDEX models_status ON models (status);

    CREATE TABLE tags (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
    );

    CREATE TABLE model_tags (
        sha256 TEXT NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (sha256, tag_id)
    );
    CREATE INDEX model_tags_tag ON model_tags (tag_id);

    CREATE TABLE pending_import (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        path            TEXT NOT NULL UNIQUE,
        size_bytes      INTEGER NOT NULL,
        mtime_ns        INTEGER NOT NULL,
        inode           INTEGER NOT NULL,
        device          INTEGER NOT NULL,
        type            TEXT NOT NULL,
        name            TEXT NOT NULL,
        status          TEXT NOT NULL
                        CHECK (status IN ('settling', 'hashing', 'ready', 'conflict', 'error', 'ignored')),
        sha256          TEXT,
        blake3          TEXT,
        conflict_sha256 TEXT,
        error           TEXT,
        discovered_at   REAL NOT NULL,
        hashed_at       REAL,
        updated_at      REAL NOT NULL,
        meta_json       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX pending_status ON pending_import (status, type);
    CREATE INDEX pending_file ON pending_import (device, inode);
    CREATE INDEX pending_sha ON pending_import (sha256);

    CREATE TABLE pending_tags (
        pending_id INTEGER NOT NULL REFERENCES pending_import (id) ON DELETE CASCADE,
        tag_id     INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (pending_id, tag_id)
    );
    """,
    # 2: the library proper: copies of a model's file, images, base model, cover, full-text search.
    """
    ALTER TABLE models ADD COLUMN base_model TEXT NOT NULL DEFAULT 'unknown';
    ALTER TABLE models ADD COLUMN cover_seq INTEGER;

    CREATE TABLE model_copies (
        path       TEXT PRIMARY KEY,
        sha256     TEXT NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        size_bytes INTEGER NOT NULL,
        mtime_ns   INTEGER,
        inode      INTEGER,
        device     INTEGER,
        added_at   REAL NOT NULL
    );
    CREATE INDEX model_copies_sha ON model_copies (sha256);

    CREATE TABLE images (
        sha256     TEXT NOT NULL REFERENCES models (sha256) ON DELETE CASCADE ON UPDATE CASCADE,
        seq        INTEGER NOT NULL,
        width      INTEGER NOT NULL,
        height     INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (sha256, seq)
    );
    -- Outlives its model on purpose: an image number is never given out twice for the same sha256, so an
    -- image URL always names the same picture and can be cached for good.
    CREATE TABLE image_seq (
        sha256   TEXT PRIMARY KEY,
        next_seq INTEGER NOT NULL
    );
    CREATE TABLE pending_images (
        pending_id INTEGER NOT NULL REFERENCES pending_import (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        width      INTEGER NOT NULL,
        height     INTEGER NOT NULL,
        source     TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (pending_id, seq)
    );

    -- Full-text search. The trigram tokenizer finds substrings (`naut` in `juggernautXL_v9`). Its rows are
    -- keyed by `search_ids.id`, an integer key that VACUUM cannot renumber, unlike the models table's rowid.
    CREATE TABLE search_ids (
        id     INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE
    );
    CREATE VIRTUAL TABLE models_fts USING fts5 (
        name, file_name, path, tags, description, trigger_words, tokenize = 'trigram'
    );
    -- Models from schema 1 become searchable at once (the same content the store writes for a model).
    INSERT INTO search_ids (sha256) SELECT sha256 FROM models;
    INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words)
    SELECT s.id, m.name, replace(m.path, rtrim(m.path, replace(m.path, '/', '')), ''), m.path,
           coalesce((SELECT group_concat(t.name, ' ') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id
                     WHERE mt.sha256 = m.sha256), ''),
           coalesce(json_extract(m.meta_json, '$.description'), ''),
           coalesce((SELECT group_concat(value, ' ') FROM json_each(m.meta_json, '$.trigger_words')), '')
    FROM models m JOIN search_ids s ON s.sha256 = m.sha256;
    """,
    # 3: browsing a large library: each sort order walks an index instead of sorting every model, and a model
    # carries its search row's id so a full-text hit leads straight to it.
    """
    ALTER TABLE models ADD COLUMN search_id INTEGER;
    UPDATE models SET search_id = (SELECT id FROM search_ids s WHERE s.sha256 = models.sha256);
    CREATE INDEX models_search ON models (search_id);
    -- search_id rides along so a search can test each model of the sort order without reading its row.
    CREATE INDEX models_by_name ON models (status, name COLLATE NOCASE, sha256, search_id);
    CREATE INDEX models_by_size ON models (status, size_bytes DESC, sha256, search_id);
    CREATE INDEX models_by_created ON models (status, created_at DESC, sha256, search_id);
    CREATE INDEX models_by_updated ON models (status, updated_at DESC, sha256, search_id);
    CREATE INDEX models_type ON models (type, status);
    -- A tag filter reads the models of a tag from the index alone.
    DROP INDEX model_tags_tag;
    CREATE INDEX model_tags_by_tag ON model_tags (tag_id, sha256);
    """,
    # 4: the NSFW flag as a column, kept in step with `meta_json.nsfw` by every write of a model's metadata. The
    # sort orders' indexes carry it, so a page that hides NSFW models still walks an index without row reads.
    """
    ALTER TABLE models ADD COLUMN nsfw INTEGER NOT NULL DEFAULT 0;
    -- Truthiness as Python sees the parsed value: null, false, 0, "", [] and {} are not NSFW (an absent key is
    -- NULL, which NOT IN does not match).
    UPDATE models SET nsfw = 1 WHERE json_extract(meta_json, '$.nsfw') NOT IN (0, '', '[]', '{}');
    DROP INDEX models_by_name;
    DROP INDEX models_by_size;
    DROP INDEX models_by_created;
    DROP INDEX models_by_updated;
    CREATE INDEX models_by_name ON models (status, name COLLATE NOCASE, sha256, search_id, nsfw);
    CREATE INDEX models_by_size ON models (status, size_bytes DESC, sha256, search_id, nsfw);
    CREATE INDEX models_by_created ON models (status, created_at DESC, sha256, search_id, nsfw);
    CREATE INDEX models_by_updated ON models (status, updated_at DESC, sha256, search_id, nsfw);
    -- The base-model filter and the page's base-model counts read this instead of every model row.
    CREATE INDEX models_by_base ON models (base_model COLLATE NOCASE, status, nsfw, sha256);
    """,
    # 5: the page's sessions. Only the sha256 of a session id is kept, so the database never holds a key that
    # opens the daemon; `token_fp` ties a session to the auth_token it was issued under, so a new token ends it.
    """
    CREATE TABLE sessions (
        id_sha256  TEXT PRIMARY KEY,
        token_fp   TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);
    """,
    # 6: counts kept up to date instead of counted: the status document, the type tabs, the tag list and the
    # filter bar read them at any library size. Triggers keep them in the transaction of every write, whichever
    # part of the store makes it. `hidden` is what hiding NSFW models leaves out (the flag, or the tag `nsfw` in
    # any case), kept as a column so that a model's counts know which side they are on without a look at its tags.
    """
    ALTER TABLE models ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    UPDATE models SET hidden = 1 WHERE nsfw != 0 OR sha256 IN
        (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE t.name = 'nsfw');

    CREATE TABLE model_tally (
        type       TEXT NOT NULL,
        base_model TEXT NOT NULL,
        status     TEXT NOT NULL,
        hidden     INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        PRIMARY KEY (type, base_model, status, hidden)
    ) WITHOUT ROWID;
    INSERT INTO model_tally SELECT type, base_model, status, hidden, count(*) FROM models GROUP BY 1, 2, 3, 4;

    CREATE TABLE tag_tally (
        tag_id     INTEGER NOT NULL,
        type       TEXT NOT NULL,
        base_model TEXT NOT NULL,
        status     TEXT NOT NULL,
        hidden     INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        PRIMARY KEY (tag_id, type, base_model, status, hidden)
    ) WITHOUT ROWID;
    INSERT INTO tag_tally SELECT mt.tag_id, m.type, m.base_model, m.status, m.hidden, count(*)
        FROM model_tags mt JOIN models m ON m.sha256 = mt.sha256 GROUP BY 1, 2, 3, 4, 5;

    CREATE TABLE pending_tally (
        type   TEXT NOT NULL,
        status TEXT NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (type, status)
    ) WITHOUT ROWID;
    INSERT INTO pending_tally SELECT type, status, count(*) FROM pending_import GROUP BY 1, 2;

    CREATE TRIGGER pending_added AFTER INSERT ON pending_import BEGIN
        INSERT INTO pending_tally VALUES (NEW.type, NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER pending_removed AFTER DELETE ON pending_import BEGIN
        UPDATE pending_tally SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
    END;
    CREATE TRIGGER pending_moved AFTER UPDATE OF type, status ON pending_import
    WHEN OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status BEGIN
        UPDATE pending_tally SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
        INSERT INTO pending_tally VALUES (NEW.type, NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
    END;

    -- A new model is counted as inserted, then moved to the hidden side if its flag says so (the move is the
    -- `model_moved` trigger's).
    CREATE TRIGGER model_added AFTER INSERT ON models BEGIN
        INSERT INTO model_tally VALUES (NEW.type, NEW.base_model, NEW.status, NEW.hidden, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
        UPDATE models SET hidden = 1 WHERE sha256 = NEW.sha256 AND NEW.nsfw != 0 AND NEW.hidden = 0;
    END;
    -- Before the row goes: its tags are counted with it, and the cascade that deletes them runs after the row is
    -- gone, when nothing would say which counts they were in.
    CREATE TRIGGER model_removing BEFORE DELETE ON models BEGIN
        UPDATE tag_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
            AND status = OLD.status AND hidden = OLD.hidden
            AND tag_id IN (SELECT tag_id FROM model_tags WHERE sha256 = OLD.sha256);
    END;
    CREATE TRIGGER model_removed AFTER DELETE ON models BEGIN
        UPDATE model_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
            AND status = OLD.status AND hidden = OLD.hidden;
    END;
    CREATE TRIGGER model_moved AFTER UPDATE OF type, base_model, status, hidden ON models
    WHEN OLD.type IS NOT NEW.type OR OLD.base_model IS NOT NEW.base_model OR OLD.status IS NOT NEW.status
        OR OLD.hidden IS NOT NEW.hidden BEGIN
        UPDATE model_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
            AND status = OLD.status AND hidden = OLD.hidden;
        INSERT INTO model_tally VALUES (NEW.type, NEW.base_model, NEW.status, NEW.hidden, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
        UPDATE tag_tally SET n = n - 1 WHERE type = OLD.type AND base_model = OLD.base_model
            AND status = OLD.status AND hidden = OLD.hidden
            AND tag_id IN (SELECT tag_id FROM model_tags WHERE sha256 = NEW.sha256);
        INSERT INTO tag_tally SELECT tag_id, NEW.type, NEW.base_model, NEW.status, NEW.hidden, 1
            FROM model_tags WHERE sha256 = NEW.sha256 ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER model_flagged AFTER UPDATE OF nsfw ON models WHEN OLD.nsfw IS NOT NEW.nsfw BEGIN
        UPDATE models SET hidden = (NEW.nsfw != 0 OR EXISTS (SELECT 1 FROM model_tags mt JOIN tags t
            ON t.id = mt.tag_id WHERE mt.sha256 = NEW.sha256 AND t.name = 'nsfw')) WHERE sha256 = NEW.sha256;
    END;

    -- A tag is counted on the side its model is on before the tag arrives or after it left; the tag `nsfw`
    -- then moves the model (and so all its tags) to the other side.
    CREATE TRIGGER model_tag_added AFTER INSERT ON model_tags BEGIN
        INSERT INTO tag_tally SELECT NEW.tag_id, type, base_model, status, hidden, 1 FROM models
            WHERE sha256 = NEW.sha256 ON CONFLICT DO UPDATE SET n = n + 1;
        UPDATE models SET hidden = 1 WHERE sha256 = NEW.sha256 AND hidden = 0
            AND EXISTS (SELECT 1 FROM tags WHERE id = NEW.tag_id AND name = 'nsfw');
    END;
    -- A tag removed with its model (the cascade) finds no model: `model_removing` counted it already.
    CREATE TRIGGER model_tag_removed AFTER DELETE ON model_tags BEGIN
        UPDATE tag_tally SET n = n - 1 WHERE tag_id = OLD.tag_id AND (type, base_model, status, hidden) =
            (SELECT type, base_model, status, hidden FROM models WHERE sha256 = OLD.sha256);
        UPDATE models SET hidden = (nsfw != 0) WHERE sha256 = OLD.sha256 AND hidden != (nsfw != 0)
            AND EXISTS (SELECT 1 FROM tags WHERE id = OLD.tag_id AND name = 'nsfw');
    END;
    -- A tag's models lose it while its name still says whether it was `nsfw` (the cascade runs after the row
    -- is gone); its counts go with it.
    CREATE TRIGGER tag_removing BEFORE DELETE ON tags BEGIN
        DELETE FROM model_tags WHERE tag_id = OLD.id;
    END;
    CREATE TRIGGER tag_removed AFTER DELETE ON tags BEGIN
        DELETE FROM tag_tally WHERE tag_id = OLD.id;
    END;
    CREATE TRIGGER tag_renamed AFTER UPDATE OF name ON tags
    -- (the table compares names without regard to case; a trigger's OLD and NEW are told so)
    WHEN (OLD.name = 'nsfw' COLLATE NOCASE) IS NOT (NEW.name = 'nsfw' COLLATE NOCASE) BEGIN
        UPDATE models SET hidden = (nsfw != 0 OR EXISTS (SELECT 1 FROM model_tags mt JOIN tags t
            ON t.id = mt.tag_id WHERE mt.sha256 = models.sha256 AND t.name = 'nsfw'))
            WHERE sha256 IN (SELECT sha256 FROM model_tags WHERE tag_id = NEW.id);
    END;
    """,
    # 7: every listing index starts with the status, so one on the status alone served nothing and cost every
    # model written (a first index writes tens of thousands).
    """
    DROP INDEX models_status;
    """,
    # 8: training captions out of the trigger words. Schema 7 suggested the ten most used `ss_tag_frequency` tags
    # as trigger words (`1girl`, `solo`); they are training tags now, read from the stored header. A list exactly as
    # suggested loses them (`v8_trigger_words` in migration_functions.py decides); one the user edited stays whole.
    # Only `trigger_words` is rewritten, and a model's search row with it; nothing counts as a user's edit.
    """
    CREATE TEMP TABLE v8_models AS SELECT sha256, words FROM
        (SELECT sha256, v8_trigger_words(CAST(meta_json AS BLOB), 0) AS words FROM models) WHERE words IS NOT NULL;
    CREATE TEMP TABLE v8_pending AS SELECT id, words FROM
        (SELECT id, v8_trigger_words(CAST(meta_json AS BLOB), 1) AS words FROM pending_import)
        WHERE words IS NOT NULL;
    UPDATE models SET meta_json = (SELECT CASE w.words WHEN '[]' THEN json_remove(models.meta_json, '$.trigger_words')
        ELSE json_set(models.meta_json, '$.trigger_words', json(w.words)) END FROM v8_models w
        WHERE w.sha256 = models.sha256) WHERE sha256 IN (SELECT sha256 FROM v8_models);
    UPDATE pending_import SET meta_json = (SELECT CASE w.words
        WHEN '[]' THEN json_remove(pending_import.meta_json, '$.trigger_words')
        ELSE json_set(pending_import.meta_json, '$.trigger_words', json(w.words)) END FROM v8_pending w
        WHERE w.id = pending_import.id) WHERE id IN (SELECT id FROM v8_pending);
    UPDATE models_fts SET trigger_words = (SELECT
        coalesce((SELECT group_concat(j.value, ' ') FROM json_each(w.words) j), '')
        FROM v8_models w JOIN search_ids s ON s.sha256 = w.sha256 WHERE s.id = models_fts.rowid)
        WHERE rowid IN (SELECT s.id FROM v8_models w JOIN search_ids s ON s.sha256 = w.sha256);
    DROP TABLE v8_models;
    DROP TABLE v8_pending;
    """,
    # 9: work a new version does once over what earlier ones stored where SQL alone cannot (it reads files): a
    # row per chore left to do, deleted when it is done. `sidecar_tags`: models imported before sidecar tags were
    # read get them from their sidecar files (a new database has no such model, so nothing to do).
    """
    CREATE TABLE chores (name TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT INTO chores (name) SELECT 'sidecar_tags' WHERE EXISTS (SELECT 1 FROM models);
    """,
    # 10: favourites as a column kept in step with `meta_json.favorite` by triggers, so every write of a model's
    # metadata (an edit, an import, a merge) keeps it, and the filter reads a small partial index at any size.
    """
    ALTER TABLE models ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;
    UPDATE models SET favorite = 1 WHERE json_extract(meta_json, '$.favorite') IS 1;
    CREATE INDEX models_favorite ON models (status, sha256) WHERE favorite = 1;
    CREATE TRIGGER model_favorite_added AFTER INSERT ON models
    WHEN (json_extract(NEW.meta_json, '$.favorite') IS 1) != NEW.favorite BEGIN
        UPDATE models SET favorite = 1 - favorite WHERE sha256 = NEW.sha256;
    END;
    CREATE TRIGGER model_favorite_set AFTER UPDATE OF meta_json ON models
    WHEN (json_extract(NEW.meta_json, '$.favorite') IS 1) != NEW.favorite BEGIN
        UPDATE models SET favorite = 1 - favorite WHERE sha256 = NEW.sha256;
    END;
    """,
    # 11: folders. A model's folder is its path without the file name (whichever separator the path uses), worked
    # out by SQLite from the path in an index on that expression, so no write of a path can leave it stale (a
    # generated column would do the same, but VACUUM INTO, which backups use, cannot copy one added by ALTER
    # TABLE). The models in each folder are counted by type, status and hidden-or-not in `folder_tally`, kept by
    # triggers like the other tallies, so the folder tree costs the same at any library size.
    """
    CREATE INDEX models_dir ON models (
        substr(path, 1, length(rtrim(path, replace(replace(path, '/', ''), '\\', ''))) - 1));

    CREATE TABLE folder_tally (
        dir    TEXT NOT NULL,
        type   TEXT NOT NULL,
        status TEXT NOT NULL,
        hidden INTEGER NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (dir, type, status, hidden)
    ) WITHOUT ROWID;
    INSERT INTO folder_tally SELECT
        substr(path, 1, length(rtrim(path, replace(replace(path, '/', ''), '\\', ''))) - 1),
        type, status, hidden, count(*) FROM models GROUP BY 1, 2, 3, 4;

    -- A new model is counted as it is inserted; `model_added` may then hide it, which `folder_moved` follows.
    CREATE TRIGGER folder_added AFTER INSERT ON models BEGIN
        INSERT INTO folder_tally VALUES (
            substr(NEW.path, 1, length(rtrim(NEW.path, replace(replace(NEW.path, '/', ''), '\\', ''))) - 1),
            NEW.type, NEW.status, NEW.hidden, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER folder_removed AFTER DELETE ON models BEGIN
        UPDATE folder_tally SET n = n - 1 WHERE
            dir = substr(OLD.path, 1, length(rtrim(OLD.path, replace(replace(OLD.path, '/', ''), '\\', ''))) - 1)
            AND type = OLD.type AND status = OLD.status
            AND hidden = OLD.hidden;
    END;
    CREATE TRIGGER folder_moved AFTER UPDATE OF path, type, status, hidden ON models
    WHEN OLD.path IS NOT NEW.path OR OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status
        OR OLD.hidden IS NOT NEW.hidden BEGIN
        UPDATE folder_tally SET n = n - 1 WHERE
            dir = substr(OLD.path, 1, length(rtrim(OLD.path, replace(replace(OLD.path, '/', ''), '\\', ''))) - 1)
            AND type = OLD.type AND status = OLD.status
            AND hidden = OLD.hidden;
        INSERT INTO folder_tally VALUES (
            substr(NEW.path, 1, length(rtrim(NEW.path, replace(replace(NEW.path, '/', ''), '\\', ''))) - 1),
            NEW.type, NEW.status, NEW.hidden, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    """,
    # 12: rows waiting in the queue since before sidecar tags were read get them too (the `pending_sidecar_tags`
    # chore), so that importing them later brings the tags along.
    """
    INSERT OR IGNORE INTO chores (name) SELECT 'pending_sidecar_tags' WHERE EXISTS (SELECT 1 FROM pending_import
        WHERE sha256 IS NOT NULL AND json_type(meta_json, '$.sidecars.tags') IS NULL);
    """,
    # 13: metadata from the web. What the sources last said about a content (its record when one knew it), and
    # the queue of contents to look up, so a bulk lookup goes on after a restart.
    """
    CREATE TABLE web_lookups (
        sha256     TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('found', 'not_found', 'failed')),
        source     TEXT,
        checked_at REAL NOT NULL,
        notes      TEXT NOT NULL DEFAULT '[]',
        record     TEXT
    ) WITHOUT ROWID;
    CREATE TABLE lookup_queue (
        sha256     TEXT PRIMARY KEY,
        force      INTEGER NOT NULL DEFAULT 0,
        queued_at  REAL NOT NULL,
        not_before REAL NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        asks       INTEGER NOT NULL DEFAULT 1  -- how often it was asked for: one asked again while it ran stays
    ) WITHOUT ROWID;
    CREATE INDEX lookup_queue_due ON lookup_queue (not_before, queued_at);
    """,
    # 14: what ComfyUI used. Each model counts its uses and keeps its last (0 for never, so the two sort orders
    # compare numbers only, and a never-used model sorts after every used one); each sort order walks an index as
    # the others do. The last-use index also holds what the filter of models unused for a while needs (when each
    # was added, its size), so counting them and their bytes reads no model row. Every use's id is kept a while
    # (`counted_uses`), so a batch the node pack sends again counts nothing twice. A use names the file ComfyUI
    # loaded: a copy is found by its path, or by its device and inode when ComfyUI reached it by another path (a
    # symlinked folder).
    """
    ALTER TABLE models ADD COLUMN use_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN last_used_at REAL NOT NULL DEFAULT 0;
    CREATE INDEX models_by_last_used ON models
        (status, last_used_at DESC, sha256, search_id, nsfw, created_at, size_bytes);
    CREATE INDEX models_by_use ON models (status, use_count DESC, last_used_at DESC, sha256, search_id, nsfw);
    CREATE TABLE counted_uses (
        id         TEXT PRIMARY KEY,
        counted_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX counted_uses_age ON counted_uses (counted_at);
    CREATE INDEX model_copies_file ON model_copies (device, inode);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
