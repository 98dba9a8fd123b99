-- An OAuth grant made on the consent page records the personal access token
-- it was made from (`source_token_hash`) and the bound that token's expiry
-- sets on every token of the grant (`family_not_after`, Unix ms; NULL: none)
-- in columns of its authorization code and of each of its tokens. Both used
-- to be packed into the family id, `g1.<uuid>.<not-after ms or ->.<hash>`;
-- family ids are now opaque.
ALTER TABLE tokens ADD COLUMN source_token_hash TEXT;
ALTER TABLE tokens ADD COLUMN family_not_after INTEGER;
ALTER TABLE auth_codes ADD COLUMN source_token_hash TEXT;
ALTER TABLE auth_codes ADD COLUMN family_not_after INTEGER;

-- Rows of grants made before: unpack their family id, which stays their id.
-- A packed id is `g1.` (1-3), 32 hex digits (4-35), `.` (36), the bound from
-- 37 on (`-` or digits; L - 101 characters in an id of length L), `.`, and
-- the 64 hex digits of the source token's hash.
UPDATE tokens SET
    source_token_hash = substr(family_id, -64),
    family_not_after = CASE substr(family_id, 37, length(family_id) - 101)
        WHEN '-' THEN NULL
        ELSE CAST(substr(family_id, 37, length(family_id) - 101) AS INTEGER)
    END
WHERE family_id GLOB 'g1.*'
    AND length(family_id) > 101
    AND substr(family_id, 4, 32) NOT GLOB '*[^0-9a-f]*'
    AND substr(family_id, 36, 1) = '.'
    AND substr(family_id, -65, 1) = '.'
    AND substr(family_id, -64) NOT GLOB '*[^0-9a-f]*'
    AND (substr(family_id, 37, length(family_id) - 101) = '-'
        OR substr(family_id, 37, length(family_id) - 101) NOT GLOB '*[^0-9]*');

UPDATE auth_codes SET
    source_token_hash = substr(family_id, -64),
    family_not_after = CASE substr(family_id, 37, length(family_id) - 101)
        WHEN '-' THEN NULL
        ELSE CAST(substr(family_id, 37, length(family_id) - 101) AS INTEGER)
    END
WHERE family_id GLOB 'g1.*'
    AND length(family_id) > 101
    AND substr(family_id, 4, 32) NOT GLOB '*[^0-9a-f]*'
    AND substr(family_id, 36, 1) = '.'
    AND substr(family_id, -65, 1) = '.'
    AND substr(family_id, -64) NOT GLOB '*[^0-9a-f]*'
    AND (substr(family_id, 37, length(family_id) - 101) = '-'
        OR substr(family_id, 37, length(family_id) - 101) NOT GLOB '*[^0-9]*');
