package kafka

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fix 3: kfake can keep a dead member in a classic consumer group forever.
//
// A member that joins with a member id (after MEMBER_ID_REQUIRED) loses its
// pending-member timer; kfake arms the session timer again only when it
// delivers the JoinGroup response (group.reply). If the client died while
// its JoinGroup waited for the rebalance, that reply finds the connection
// closed and no session timer is armed; once the leader's SyncGroup makes
// the group Stable (which also clears the pending-sync timer), the dead
// member keeps its partitions and nothing ever consumes them. Seen with a
// pipeline process SIGKILLed during a rebalance: about half of its groups
// stayed stuck.
//
// The reaper restores the session timeout: it watches every classic group
// request (JoinGroup, SyncGroup, Heartbeat, OffsetCommit, LeaveGroup) and
// makes a member that has sent nothing for longer than its session timeout
// plus its rebalance timeout leave the group (LeaveGroup on its behalf),
// which rebalances its partitions to the live members. A live member is
// never that quiet: it heartbeats well within its session timeout, and
// waits in a join or sync for at most its rebalance timeout.
type reaper struct {
	log *slog.Logger
	cl  *kgo.Client

	mu      sync.Mutex
	members map[memberKey]*memberSeen

	stop chan struct{}
	done chan struct{}
}

type memberKey struct{ group, member string }

type memberSeen struct {
	last    time.Time
	timeout time.Duration // session + rebalance timeout; 0 until a JoinGroup was seen
}

// reapEvery is how often silent members are looked for.
const reapEvery = time.Second

func newReaper(log *slog.Logger) *reaper {
	return &reaper{log: log, members: map[memberKey]*memberSeen{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// watch installs the observers; they never handle a request.
func (r *reaper) watch(c *kfake.Cluster) {
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit, kmsg.LeaveGroup} {
		c.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			r.seen(req)
			return nil, nil, false
		})
	}
}

func (r *reaper) seen(req kmsg.Request) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	touch := func(group, member string, timeout time.Duration) {
		if member == "" {
			return
		}
		k := memberKey{group, member}
		m := r.members[k]
		if m == nil {
			m = &memberSeen{}
			r.members[k] = m
		}
		m.last = now
		if timeout > 0 {
			m.timeout = timeout
		}
	}
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		touch(req.Group, req.MemberID,
			time.Duration(req.SessionTimeoutMillis+max(req.RebalanceTimeoutMillis, req.SessionTimeoutMillis))*time.Millisecond)
	case *kmsg.SyncGroupRequest:
		touch(req.Group, req.MemberID, 0)
	case *kmsg.HeartbeatRequest:
		touch(req.Group, req.MemberID, 0)
	case *kmsg.OffsetCommitRequest:
		touch(req.Group, req.MemberID, 0)
	case *kmsg.LeaveGroupRequest:
		delete(r.members, memberKey{req.Group, req.MemberID})
		for _, m := range req.Members {
			delete(r.members, memberKey{req.Group, m.MemberID})
		}
	}
}

// run starts reaping through a client of the broker.
func (r *reaper) run(broker kafkasec.Cluster) error {
	cl, err := kgo.NewClient(broker.Opts()...)
	if err != nil {
		return err
	}
	r.cl = cl
	go func() {
		defer close(r.done)
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				r.reap()
			}
		}
	}()
	return nil
}

// reap makes every member that has been silent too long leave its group.
func (r *reaper) reap() {
	now := time.Now()
	var silent []memberKey
	r.mu.Lock()
	for k, m := range r.members {
		if m.timeout > 0 && now.Sub(m.last) > m.timeout {
			silent = append(silent, k)
			delete(r.members, k)
		}
	}
	r.mu.Unlock()
	for _, k := range silent {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = 3
		req.Group = k.group
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = k.member
		m.Reason = kmsg.StringPtr("session expired (hedgeline embedded broker)")
		req.Members = append(req.Members, m)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := req.RequestWith(ctx, r.cl)
		cancel()
		switch {
		case err != nil:
			r.log.Warn("removing a silent group member", "group", k.group, "member", k.member, "err", err)
		case len(resp.Members) == 1 && resp.Members[0].ErrorCode == 0:
			r.log.Warn("removed a group member whose session expired unnoticed (kfake)", "group", k.group, "member", k.member)
		}
	}
}

// close stops reaping.
func (r *reaper) close() {
	if r.cl == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.cl.Close()
}
