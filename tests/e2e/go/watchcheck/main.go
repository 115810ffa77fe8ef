// watchcheck drives etcd's Go client (clientv3 3.4) against a server to check the watch
// features only clientv3 exposes: WithRequireLeader, WithProgressNotify, RequestProgress,
// WithFragment, and a completeness check under load. Each subcommand prints "OK ..." and exits
// 0, or prints the failure and exits 1. Every wait is bounded.
//
// Usage: watchcheck <endpoint> <require-leader|progress-notify|request-progress|fragment|
//                               completeness>
package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

const giveUp = 30 * time.Second

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: watchcheck <endpoint> <check>")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Args[1]},
		DialTimeout: 5 * time.Second})
	if err != nil {
		fail("dial: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), giveUp)
	defer cancel()
	switch os.Args[2] {
	case "require-leader":
		requireLeader(ctx, cli)
	case "progress-notify":
		progressNotify(ctx, cli)
	case "request-progress":
		requestProgress(ctx, cli)
	case "fragment":
		fragment(ctx, cli)
	case "completeness":
		completeness(ctx, cli)
	default:
		fail("unknown check %q", os.Args[2])
	}
}

func put(ctx context.Context, cli *clientv3.Client, k, v string) int64 {
	r, err := cli.Put(ctx, k, v)
	if err != nil {
		fail("put %s: %v", k, err)
	}
	return r.Header.Revision
}

// recv returns the next response of wch or fails on timeout / closed channel.
func recv(ctx context.Context, wch clientv3.WatchChan, what string) clientv3.WatchResponse {
	select {
	case r, ok := <-wch:
		if !ok {
			fail("%s: watch channel closed", what)
		}
		if err := r.Err(); err != nil {
			fail("%s: %v", what, err)
		}
		return r
	case <-ctx.Done():
		fail("%s: timed out", what)
	}
	panic("unreachable")
}

func requireLeader(ctx context.Context, cli *clientv3.Client) {
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := cli.Watch(wctx, "rl/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if r := recv(ctx, wch, "created"); !r.Created {
		fail("first response is not the created notification: %+v", r)
	}
	rev := put(ctx, cli, "rl/a", "1")
	r := recv(ctx, wch, "event")
	if len(r.Events) != 1 || string(r.Events[0].Kv.Key) != "rl/a" ||
		r.Events[0].Kv.ModRevision != rev {
		fail("unexpected events %+v", r.Events)
	}
	fmt.Println("OK require-leader")
}

func progressNotify(ctx context.Context, cli *clientv3.Client) {
	rev := put(ctx, cli, "pn/other", "x")
	wch := cli.Watch(ctx, "pn/a", clientv3.WithProgressNotify())
	r := recv(ctx, wch, "progress notification")
	if !r.IsProgressNotify() || r.Header.Revision < rev {
		fail("expected a progress notification at revision >= %d, got %+v", rev, r)
	}
	fmt.Printf("OK progress-notify revision=%d\n", r.Header.Revision)
}

func requestProgress(ctx context.Context, cli *clientv3.Client) {
	wch := cli.Watch(ctx, "rp/a", clientv3.WithCreatedNotify())
	recv(ctx, wch, "created")
	rev := put(ctx, cli, "rp/other", "x")
	if err := cli.RequestProgress(ctx); err != nil {
		fail("RequestProgress: %v", err)
	}
	r := recv(ctx, wch, "progress")
	if !r.IsProgressNotify() || r.Header.Revision < rev {
		fail("expected progress at revision >= %d, got %+v", rev, r)
	}
	fmt.Printf("OK request-progress revision=%d\n", r.Header.Revision)
}

// The server runs with --max-request-bytes=65536: a fragmented response stays under
// 64 KiB + 512 KiB. 100 values of 10 KiB deleted in one revision, watched with prev_kv, make a
// ~1 MiB revision that must arrive fragmented and be joined by the client.
func fragment(ctx context.Context, cli *clientv3.Client) {
	val := strings.Repeat("v", 10*1024)
	for i := 0; i < 100; i++ {
		put(ctx, cli, fmt.Sprintf("fr/%03d", i), val)
	}
	wch := cli.Watch(ctx, "fr/", clientv3.WithPrefix(), clientv3.WithPrevKV(),
		clientv3.WithFragment(), clientv3.WithCreatedNotify())
	recv(ctx, wch, "created")
	dr, err := cli.Delete(ctx, "fr/", clientv3.WithPrefix())
	if err != nil || dr.Deleted != 100 {
		fail("delete: %v %+v", err, dr)
	}
	r := recv(ctx, wch, "fragmented events")
	if len(r.Events) != 100 {
		fail("expected the 100 events of one revision joined, got %d", len(r.Events))
	}
	for i, ev := range r.Events {
		if string(ev.Kv.Key) != fmt.Sprintf("fr/%03d", i) || ev.PrevKv == nil ||
			len(ev.PrevKv.Value) != len(val) || ev.Kv.ModRevision != dr.Header.Revision {
			fail("event %d wrong: key %s", i, ev.Kv.Key)
		}
	}
	fmt.Println("OK fragment events=100")
}

// Several watchers on overlapping prefixes, concurrent writers, and random cancels followed by
// a new watch from (last seen revision + 1): each watcher must see every revision of its prefix
// exactly once, in order.
func completeness(ctx context.Context, cli *clientv3.Client) {
	const writers, putsPerWriter, watchers = 4, 150, 6
	prefixes := []string{"c/", "c/a", "c/b", "c/a1", "c/", "c/b2"}
	var mu sync.Mutex
	revsByKey := map[string][]int64{}
	startRev := put(ctx, cli, "c-start", "x") + 1

	type seen struct {
		revs       []int64
		reconnects int
	}
	results := make([]*seen, watchers)
	done := make(chan struct{})
	var wwg sync.WaitGroup
	var finalRev int64
	lastRev := make([]int64, watchers) // per watcher: its last matching revision
	for w := 0; w < watchers; w++ {
		results[w] = &seen{}
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			next := startRev
			for {
				wctx, wcancel := context.WithCancel(ctx)
				wch := cli.Watch(wctx, prefixes[w], clientv3.WithPrefix(), clientv3.WithRev(next))
				budget := 1 + rng.Intn(40) // responses before a random cancel
				for budget > 0 {
					var r clientv3.WatchResponse
					var ok bool
					select {
					case r, ok = <-wch:
					case <-done:
						mu.Lock()
						f := lastRev[w]
						mu.Unlock()
						if next > f {
							wcancel()
							return
						}
						select {
						case r, ok = <-wch:
						case <-ctx.Done():
							fail("watcher %d: timed out at revision %d (final %d)", w, next, f)
						}
					}
					if !ok || r.Err() != nil {
						fail("watcher %d: channel closed or error %v", w, r.Err())
					}
					for _, ev := range r.Events {
						if ev.Kv.ModRevision < next {
							fail("watcher %d: revision %d after %d (duplicate or reorder)", w,
								ev.Kv.ModRevision, next-1)
						}
						results[w].revs = append(results[w].revs, ev.Kv.ModRevision)
						next = ev.Kv.ModRevision + 1
					}
					if len(r.Events) > 0 {
						budget--
					}
				}
				wcancel()
				results[w].reconnects++
			}
		}(w)
	}
	var pwg sync.WaitGroup
	for i := 0; i < writers; i++ {
		pwg.Add(1)
		go func(i int) {
			defer pwg.Done()
			rng := rand.New(rand.NewSource(int64(100 + i)))
			for j := 0; j < putsPerWriter; j++ {
				k := fmt.Sprintf("c/%c%d", "ab"[rng.Intn(2)], rng.Intn(3))
				rev := put(ctx, cli, k, fmt.Sprint(j))
				mu.Lock()
				revsByKey[k] = append(revsByKey[k], rev)
				mu.Unlock()
			}
		}(i)
	}
	pwg.Wait()
	mu.Lock()
	for k, rs := range revsByKey {
		for _, r := range rs {
			if r > finalRev {
				finalRev = r
			}
			for w := range prefixes {
				if strings.HasPrefix(k, prefixes[w]) && r > lastRev[w] {
					lastRev[w] = r
				}
			}
		}
	}
	mu.Unlock()
	close(done)
	wwg.Wait()
	total := 0
	for w := 0; w < watchers; w++ {
		var want []int64
		for k, rs := range revsByKey {
			if strings.HasPrefix(k, prefixes[w]) {
				want = append(want, rs...)
			}
		}
		sortInts(want)
		got := results[w].revs
		// One revision may carry several events of a watcher only through a txn; these are
		// single puts, so revisions are distinct.
		if len(got) != len(want) {
			fail("watcher %d (%s): %d events, want %d", w, prefixes[w], len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				fail("watcher %d: event %d at revision %d, want %d", w, i, got[i], want[i])
			}
		}
		total += len(got)
	}
	recon := 0
	for _, s := range results {
		recon += s.reconnects
	}
	fmt.Printf("OK completeness watchers=%d events=%d reconnects=%d final_rev=%d\n", watchers,
		total, recon, finalRev)
}

func sortInts(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j-1] > a[j]; j-- {
			a[j-1], a[j] = a[j], a[j-1]
		}
	}
}
