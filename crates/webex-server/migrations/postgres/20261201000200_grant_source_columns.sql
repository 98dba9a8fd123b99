-- An OAuth grant made on the consent page records the personal access token
-- it was made from (`source_token_hash`) and the bound that token's expiry
-- sets on every token of the grant (`family_not_after`, Unix ms; NULL: none)
-- in columns of its authorization code and of each of its tokens. Both used
-- to be packed into the family id, `g1.<uuid>.<not-after ms or ->.<hash>`;
-- family ids are now opaque.
ALTER TABLE tokens
    ADD COLUMN source_token_hash TEXT,
    ADD COLUMN family_not_after BIGINT;
ALTER TABLE auth_codes
    ADD COLUMN source_token_hash TEXT,
    ADD COLUMN family_not_after BIGINT;

-- Rows of grants made before: unpack their family id, which stays their id.
UPDATE tokens SET
    source_token_hash = right(family_id, 64),
    family_not_after = NULLIF(split_part(family_id, '.', 3), '-')::BIGINT
WHERE family_id ~ '^g1\.[0-9a-f]{32}\.(-|[0-9]+)\.[0-9a-f]{64}$';

UPDATE auth_codes SET
    source_token_hash = right(family_id, 64),
    family_not_after = NULLIF(split_part(family_id, '.', 3), '-')::BIGINT
WHERE family_id ~ '^g1\.[0-9a-f]{32}\.(-|[0-9]+)\.[0-9a-f]{64}$';
