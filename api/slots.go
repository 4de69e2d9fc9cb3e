package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// slots shares the server between callers, so that no one user can hold it:
// each user below supervisor may keep a few connections open and run a few
// requests at once, and the last places in the pool of running requests are
// kept for supervisors.
type slots struct {
	maxRunning  int // requests running at once, all callers
	reserved    int // of maxRunning, kept for supervisors
	perUser     int // requests running at once, one caller below supervisor
	perUserConn int // connections open at once, one caller below supervisor
	wait        time.Duration

	mu      sync.Mutex
	conns   map[int]int // open connections per uid
	running map[int]int // running requests per uid
	total   int         // running requests
	freed   chan struct{}
}

func newSlots(o ServerOptions) *slots {
	return &slots{
		maxRunning: o.MaxConcurrent, reserved: o.ReservedForSupervisors,
		perUser: o.PerUser, perUserConn: o.PerUserConnections, wait: o.SlotWait,
		conns: map[int]int{}, running: map[int]int{}, freed: make(chan struct{}),
	}
}

// connect takes a connection place for c; it refuses a caller below
// supervisor who already has perUserConn connections open.
func (s *slots) connect(c Caller) (release func(), e *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Role < RoleSupervisor && s.conns[c.UID] >= s.perUserConn {
		return nil, &Error{Code: CodeFailed, Msg: fmt.Sprintf("too many connections from %s at once (%d)", c.User, s.perUserConn),
			Hints: []string{"wait for your other cctv commands to finish, then try again"}}
	}
	s.conns[c.UID]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conns[c.UID]--; s.conns[c.UID] <= 0 {
			delete(s.conns, c.UID)
		}
	}, nil
}

// run takes a place for one running request of c, waiting up to the slot
// wait for one to free; it gives up with an error when the wait is over or
// ctx ends.
func (s *slots) run(ctx context.Context, c Caller) (release func(), e *Error) {
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		limit := s.maxRunning - s.reserved
		if c.Role >= RoleSupervisor {
			limit = s.maxRunning
		}
		mine := c.Role >= RoleSupervisor || s.running[c.UID] < s.perUser
		if mine && s.total < limit {
			s.running[c.UID]++
			s.total++
			s.mu.Unlock()
			return s.releaser(c.UID), nil
		}
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			msg := "the cctv daemon is busy with other requests"
			if !mine {
				msg = fmt.Sprintf("%s already has %d requests running", c.User, s.perUser)
			}
			return nil, &Error{Code: CodeFailed, Msg: msg + "; try again when they have finished"}
		case <-ctx.Done():
			return nil, &Error{Code: CodeFailed, Msg: "the request was given up while waiting for the daemon"}
		}
	}
}

func (s *slots) releaser(uid int) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running[uid]--; s.running[uid] <= 0 {
				delete(s.running, uid)
			}
			s.total--
			close(s.freed) // wake every waiter; each checks again
			s.freed = make(chan struct{})
		})
	}
}
