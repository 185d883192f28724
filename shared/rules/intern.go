package rules

import "sync"

// Rules name the same few alert paths and tags again and again. Compiling
// gives each a small number, so that checking an alert against many rules
// looks each path up once and tests each tag with a bit, instead of
// comparing strings per rule. The tables only grow, by the distinct paths
// and tags that rule files ever named: a few thousand strings at most.
type internTable struct {
	mu  sync.RWMutex
	ids map[string]int
	n   int
}

var (
	pathIDs = &internTable{ids: map[string]int{}}
	tagIDs  = &internTable{ids: map[string]int{}}
)

// maxPathIDs bounds the per-alert slots for looked-up paths; paths past it
// are looked up without a slot.
const maxPathIDs = 512

// intern returns s's number, adding it if new.
func (t *internTable) intern(s string) int {
	t.mu.RLock()
	id, ok := t.ids[s]
	t.mu.RUnlock()
	if ok {
		return id
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[s]; ok {
		return id
	}
	id = t.n
	t.ids[s] = id
	t.n++
	return id
}

// lookup returns s's number, or -1 if no rule names s.
func (t *internTable) lookup(s string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if id, ok := t.ids[s]; ok {
		return id
	}
	return -1
}
