package store

// The circuit breaker (docs/rollout.md): consecutive failed or
// ineffective executions per rule (entity "") or per rule and host, and
// the pause they lead to, held here so every replica agrees.

// schemaBreaker is the circuit breaker's part of migration 9.
const schemaBreaker = `
	CREATE TABLE rule_breakers (
		rule_name  TEXT NOT NULL,
		entity     TEXT NOT NULL,
		rule_hash  TEXT NOT NULL,
		failures   INTEGER NOT NULL,
		paused_at  BIGINT,
		reason     TEXT NOT NULL DEFAULT '',
		last_execution TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (rule_name, entity)
	);
	CREATE INDEX rule_breakers_paused ON rule_breakers (paused_at) WHERE paused_at IS NOT NULL;`
