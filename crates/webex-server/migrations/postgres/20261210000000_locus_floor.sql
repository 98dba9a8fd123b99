-- Screen share (issue 22): the Locus content floor, one per Locus.
-- `floor_state`: GRANTED or RELEASED (NULL: nobody ever shared);
-- `floor_instance`: the presenter client's shareInstanceId;
-- `floor_beneficiary` / `floor_requester`: participant ids;
-- `floor_device`: the device URL that shares (the request's
-- `beneficiary.devices[0].url`);
-- `floor_granted_at` / `floor_released_at`: epoch milliseconds.
-- A RELEASED floor keeps its last beneficiary (the official SDK reads
-- `floor.beneficiary.id` with no guard). The same text serves SQLite and
-- PostgreSQL.
ALTER TABLE loci ADD COLUMN floor_state TEXT;
ALTER TABLE loci ADD COLUMN floor_instance TEXT;
ALTER TABLE loci ADD COLUMN floor_beneficiary TEXT;
ALTER TABLE loci ADD COLUMN floor_device TEXT;
ALTER TABLE loci ADD COLUMN floor_requester TEXT;
ALTER TABLE loci ADD COLUMN floor_granted_at BIGINT;
ALTER TABLE loci ADD COLUMN floor_released_at BIGINT;
