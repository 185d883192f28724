package engine

import "github.com/alexis-ops/alexis/actionhandler/internal/store"

// The store satisfies what each consumer in this package declares.
var (
	_ Store        = store.Store(nil)
	_ Queue        = store.Store(nil)
	_ QueueCounter = store.Store(nil)
)
