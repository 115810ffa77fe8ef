// leasecheck drives etcd's Go clientv3 concurrency package (Session: a lease kept alive in the
// background; Mutex: a lock held by a session's lease) against one endpoint and prints one
// "ok <step>" line per verified step. Any failure prints "FAIL <step>: <reason>" and exits 1.
//
// Usage: leasecheck <endpoint>
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

func fail(step string, format string, args ...interface{}) {
	fmt.Printf("FAIL %s: %s\n", step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func ok(step string) { fmt.Printf("ok %s\n", step) }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: leasecheck <endpoint>")
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Args[1]}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail("connect", "%v", err)
	}
	defer cli.Close()
	ctx := context.Background()

	// A session with the minimum TTL stays alive across several TTLs thanks to its keep-alive.
	s1, err := concurrency.NewSession(cli, concurrency.WithTTL(2))
	if err != nil {
		fail("session", "%v", err)
	}
	time.Sleep(5 * time.Second)
	select {
	case <-s1.Done():
		fail("session-keepalive", "session ended while kept alive")
	default:
	}
	ttl, err := cli.TimeToLive(ctx, s1.Lease())
	if err != nil || ttl.TTL <= 0 {
		fail("session-keepalive", "lease ttl %v err %v", ttl, err)
	}
	ok("session-keepalive")

	// Mutex: s1 holds the lock; s2 cannot get it while s1 lives, and gets it once s1 is closed
	// (its lease revoked, the lock key deleted).
	m1 := concurrency.NewMutex(s1, "/leasecheck/lock")
	if err := m1.Lock(ctx); err != nil {
		fail("mutex-lock", "%v", err)
	}
	s2, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		fail("session2", "%v", err)
	}
	m2 := concurrency.NewMutex(s2, "/leasecheck/lock")
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	err = m2.Lock(short)
	cancel()
	if err == nil {
		fail("mutex-exclusive", "second session got the lock while the first held it")
	}
	ok("mutex-exclusive")
	if err := s1.Close(); err != nil {
		fail("session-close", "%v", err)
	}
	waitCtx, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := m2.Lock(waitCtx); err != nil {
		fail("mutex-handover", "%v", err)
	}
	ok("mutex-handover")
	if err := m2.Unlock(ctx); err != nil {
		fail("mutex-unlock", "%v", err)
	}
	ok("mutex-unlock")

	// Orphaned session: no more keep-alives, so the lease expires on its own.
	s3, err := concurrency.NewSession(cli, concurrency.WithTTL(2))
	if err != nil {
		fail("session3", "%v", err)
	}
	id := s3.Lease()
	s3.Orphan()
	deadline := time.Now().Add(2*time.Second + 3*time.Second)
	for {
		r, err := cli.TimeToLive(ctx, id)
		if err == nil && r.TTL == -1 {
			break
		}
		if time.Now().After(deadline) {
			fail("orphan-expires", "lease still alive: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok("orphan-expires")
	s2.Close()
}
