package store

// Verification (docs/rollout.md): an execution whose rule has a verify
// check ends verifying when its tasks succeeded; the check is due at
// verify_at, claimed by one replica at a time (verify_lease), and ends the
// execution remediated or ineffective (verified_at).

// schemaVerify is verification's part of migration 9.
const schemaVerify = `
	ALTER TABLE executions ADD COLUMN verify_at BIGINT;
	ALTER TABLE executions ADD COLUMN verify_lease BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE executions ADD COLUMN verified_at BIGINT;
	CREATE INDEX executions_verify ON executions (verify_at) WHERE verified_at IS NULL;`
