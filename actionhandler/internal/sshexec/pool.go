package sshexec

import (
	"context"
	"sync"
	"time"
)

// pool keeps one idle connection per user@host:port for a while. Commands
// on one host are serialised (hostLocks), so one is all a host needs.
type pool struct {
	idle  time.Duration
	mu    sync.Mutex
	conns map[string]*kept
}

type kept struct {
	c     *Conn
	timer *time.Timer
}

func (p *pool) init(idle time.Duration) {
	p.idle = idle
	p.conns = map[string]*kept{}
}

// get takes the kept connection for key, nil if there is none alive.
func (p *pool) get(key string) *Conn {
	p.mu.Lock()
	k := p.conns[key]
	delete(p.conns, key)
	p.mu.Unlock()
	if k == nil {
		return nil
	}
	k.timer.Stop()
	if k.c.dead() {
		k.c.Close()
		return nil
	}
	return k.c
}

// put keeps c for key until it has been idle for p.idle.
func (p *pool) put(key string, c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil { // closed
		c.Close()
		return
	}
	if old := p.conns[key]; old != nil {
		old.timer.Stop()
		old.c.Close()
	}
	k := &kept{c: c}
	k.timer = time.AfterFunc(p.idle, func() {
		p.mu.Lock()
		if p.conns[key] == k {
			delete(p.conns, key)
		}
		p.mu.Unlock()
		c.Close()
	})
	p.conns[key] = k
}

// Kept is how many idle connections are kept.
func (e *Executor) Kept() int {
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	return len(e.pool.conns)
}

func (p *pool) close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, k := range conns {
		k.timer.Stop()
		k.c.Close()
	}
}

// hostLocks lets one command at a time run on a host (host:port), whatever
// execution it belongs to.
type hostLocks struct {
	mu    sync.Mutex
	locks map[string]*hostLock
}

type hostLock struct {
	ch    chan struct{} // holds a token while the host is busy
	users int           // holders and waiters; the entry goes at 0
}

func (h *hostLocks) init() { h.locks = map[string]*hostLock{} }

// lock waits for addr to be free or ctx to end; unlock frees it.
func (h *hostLocks) lock(ctx context.Context, addr string) (unlock func(), err error) {
	h.mu.Lock()
	l := h.locks[addr]
	if l == nil {
		l = &hostLock{ch: make(chan struct{}, 1)}
		h.locks[addr] = l
	}
	l.users++
	h.mu.Unlock()
	done := func() {
		h.mu.Lock()
		if l.users--; l.users == 0 {
			delete(h.locks, addr)
		}
		h.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
