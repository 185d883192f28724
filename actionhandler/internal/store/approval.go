package store

// Approvals (docs/rollout.md): an execution whose rule requires approval
// is created awaiting_approval: not claimable, holding no host, until it
// is approved (then queued, and claimed like any other: the governor
// decides again), denied or expired (then ended and written back).

// schemaApproval is approvals' part of migration 9.
const schemaApproval = `
	ALTER TABLE executions ADD COLUMN approval_expires_at BIGINT;
	ALTER TABLE executions ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN decision_reason TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN decided_at BIGINT;
	CREATE INDEX executions_awaiting ON executions (approval_expires_at) WHERE status = 'awaiting_approval';`
