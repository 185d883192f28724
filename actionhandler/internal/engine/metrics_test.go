package engine

import "testing"

func TestSkipReason(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"governor: rule r already ran 3 times in the last 1h0m0s (max_executions 3)", SkipMaxExecutions},
		{"governor: rule r already acted on db01 2 times in the last 1h0m0s (max_executions_per_entity 2)", SkipMaxExecutionsPerEntity},
		{"governor: rule r acted on db01 5m0s ago (cooldown 10m0s)", SkipCooldown},
		{"governor: 10 hosts acted on in the last minute; 2 more would exceed max_hosts_per_minute 10", SkipMaxHostsPerMinute},
		{"rule governor: database down", SkipOther},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := SkipReason(tc.reason); got != tc.want {
				t.Errorf("SkipReason(%q) = %q, want %q", tc.reason, got, tc.want)
			}
		})
	}
}
