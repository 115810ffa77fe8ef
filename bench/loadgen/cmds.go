package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io/ioutil"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/pkg/transport"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// maxErrorsShown bounds how many individual request errors are printed per command.
const maxErrorsShown = 3

// abortErrors is the error count after which a run stops issuing requests: beyond 1% failed the
// figures are void anyway (main then exits non-zero), and a dead server must not keep a
// thousand clients waiting out their request timeouts one request after another.
func abortErrors(total int) int64 {
	if n := total/100 + 10; n < maxAbortErrors {
		return int64(n)
	}
	return maxAbortErrors
}

// maxAbortErrors caps abortErrors for very large runs.
const maxAbortErrors = 200

func (o *options) tlsConfig() (*tls.Config, error) {
	if o.cacert == "" && o.cert == "" && o.key == "" {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: o.cacert, CertFile: o.cert, KeyFile: o.key}
	return info.ClientConfig()
}

func newClient(o *options, dialTimeout time.Duration) (*clientv3.Client, error) {
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	logCfg := zap.NewProductionConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	return clientv3.New(clientv3.Config{
		Endpoints:   o.endpointList(),
		DialTimeout: dialTimeout,
		TLS:         tc,
		LogConfig:   &logCfg,
		// Fail fast at start-up instead of discovering an unreachable server per request.
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
		// A full-range read of 100k x 1 KiB is ~100 MiB in one response.
		MaxCallRecvMsgSize: 1 << 30,
	})
}

// newClients opens n independent connections (one clientv3.Client each), in parallel because a
// TLS handshake per connection adds up at 100 connections.
func newClients(o *options, n int) ([]*clientv3.Client, error) {
	clis := make([]*clientv3.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range clis {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			clis[i], errs[i] = newClient(o, o.dialTimeout)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			closeClients(clis)
			return nil, fmt.Errorf("connecting to %s: %v", o.endpoints, err)
		}
	}
	return clis, nil
}

func closeClients(clis []*clientv3.Client) {
	for _, c := range clis {
		if c != nil {
			c.Close()
		}
	}
}

// requestFn performs request number i; a worker is one simulated client.
type requestFn func(ctx context.Context, i int) error

// workerFactory builds client j's request function on connection c (its set-up, e.g. opening a
// stream, is not measured).
type workerFactory func(j int, c *clientv3.Client) (requestFn, error)

// runClosed runs o.total requests over o.clients closed-loop clients spread round-robin over
// o.conns connections, and measures them (and the server, with --pid).
func runClosed(o *options, total int, factory workerFactory) (*result, error) {
	clis, err := newClients(o, o.conns)
	if err != nil {
		return nil, err
	}
	defer closeClients(clis)
	workers := make([]requestFn, o.clients)
	for j := range workers {
		if workers[j], err = factory(j, clis[j%len(clis)]); err != nil {
			return nil, err
		}
	}
	res := &result{}
	lats := make([][]time.Duration, o.clients)
	errCounts := make([]int, o.clients)
	var next int64 = -1
	var shown int32
	var failed int64
	pw, err := startProcWatch(o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for j := range workers {
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, total/o.clients+1)
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= total || atomic.LoadInt64(&failed) >= abortErrors(total) {
					break
				}
				ctx, cancel := context.WithTimeout(context.Background(), o.reqTimeout)
				t0 := time.Now()
				err := workers[j](ctx, i)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errCounts[j]++
					atomic.AddInt64(&failed, 1)
					if atomic.AddInt32(&shown, 1) <= maxErrorsShown {
						fmt.Fprintf(os.Stderr, "request error: %v\n", err)
					}
					continue
				}
				lat = append(lat, d)
			}
			lats[j] = lat
		}(j)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	errs := 0
	for j := range lats {
		all = append(all, lats[j]...)
		errs += errCounts[j]
	}
	pw.finish(res, len(all))
	res.fill(all, errs, elapsed)
	if int64(errs) >= abortErrors(total) {
		return res, fmt.Errorf("aborted after %d failed requests (%d succeeded)", errs, len(all))
	}
	return res, nil
}

// keyOf renders key number n as a zero-padded decimal of at least size bytes after prefix.
func keyOf(prefix string, n, size int) string {
	w := size - len(prefix)
	if w < 1 {
		w = 1
	}
	return fmt.Sprintf("%s%0*d", prefix, w, n)
}

func randomValue(size int) string {
	b := make([]byte, size)
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewSource(1))
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return string(b)
}

func runPut(o *options, _ []string) (*result, error) {
	val := randomValue(o.valSize)
	return runClosed(o, o.total, func(j int, c *clientv3.Client) (requestFn, error) {
		r := rand.New(rand.NewSource(int64(j) + 1))
		return func(ctx context.Context, i int) error {
			n := i % o.keySpaceSize
			if !o.seqKeys {
				n = r.Intn(o.keySpaceSize)
			}
			_, err := c.Put(ctx, keyOf("", n, o.keySize), val)
			return err
		}, nil
	})
}

func runRange(o *options, args []string) (*result, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("range needs KEY [END]")
	}
	var opts []clientv3.OpOption
	if len(args) == 2 {
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	if o.consistency == "s" {
		opts = append(opts, clientv3.WithSerializable())
	}
	var lastKVs, lastBytes int64
	res, err := runClosed(o, o.total, func(j int, c *clientv3.Client) (requestFn, error) {
		return func(ctx context.Context, i int) error {
			resp, err := c.Get(ctx, args[0], opts...)
			if err != nil {
				return err
			}
			var n int64
			for _, kv := range resp.Kvs {
				n += int64(len(kv.Key) + len(kv.Value))
			}
			atomic.StoreInt64(&lastKVs, int64(len(resp.Kvs)))
			atomic.StoreInt64(&lastBytes, n)
			return nil
		}, nil
	})
	if res != nil {
		res.setExtra("kvs", float64(lastKVs))
		res.setExtra("kv_bytes", float64(lastBytes))
	}
	return res, err
}

func runTxnPut(o *options, _ []string) (*result, error) {
	val := randomValue(o.valSize)
	return runClosed(o, o.total, func(j int, c *clientv3.Client) (requestFn, error) {
		r := rand.New(rand.NewSource(int64(j) + 1))
		return func(ctx context.Context, i int) error {
			ops := make([]clientv3.Op, o.txnOps)
			for k := range ops {
				ops[k] = clientv3.OpPut(keyOf("", r.Intn(o.keySpaceSize), o.keySize), val)
			}
			_, err := c.Txn(ctx).Then(ops...).Commit()
			return err
		}, nil
	})
}

// runLoad writes keys prefix+000..., o.total of them, o.txnOps per txn; the harness uses it to
// fill a server before memory, full-read, restart and defrag measurements.
func runLoad(o *options, _ []string) (*result, error) {
	val := randomValue(o.valSize)
	txns := (o.total + o.txnOps - 1) / o.txnOps
	res, err := runClosed(o, txns, func(j int, c *clientv3.Client) (requestFn, error) {
		return func(ctx context.Context, i int) error {
			var ops []clientv3.Op
			for n := i * o.txnOps; n < (i+1)*o.txnOps && n < o.total; n++ {
				ops = append(ops, clientv3.OpPut(keyOf(o.prefix, n, o.keySize), val))
			}
			_, err := c.Txn(ctx).Then(ops...).Commit()
			return err
		}, nil
	})
	if res != nil && res.Seconds > 0 {
		res.setExtra("keys_per_s", float64(o.total)/res.Seconds)
	}
	return res, err
}

// leaseTTL outlives any run (bounded by --timeout); leases are revoked at the end either way,
// so none expires mid-run and adds expiry work to what is measured.
const leaseTTL = 3600

// maxRevokeTime bounds the revoke phase after a run: with 100,000 leases a slow or dead server
// must not hold the benchmark hostage; leftovers expire with the server's data directory.
const maxRevokeTime = 60 * time.Second

// runLeaseKeepalive times keep-alive round trips on raw LeaseKeepAlive streams, one per client.
// Without --leases each client grants and refreshes one lease; with --leases N, N leases are
// granted before timing starts (concurrently, over the clients' connections) and client j keeps
// alive leases j, j+clients, ... round-robin, so the server renews from a table of N leases.
func runLeaseKeepalive(o *options, _ []string) (*result, error) {
	var ids []clientv3.LeaseID
	if o.leases > 0 {
		var err error
		if ids, err = grantLeases(o); err != nil {
			revokeLeases(o, ids)
			return nil, err
		}
	}
	var mu sync.Mutex
	res, err := runClosed(o, o.total, func(j int, c *clientv3.Client) (requestFn, error) {
		var mine []clientv3.LeaseID
		if o.leases > 0 {
			for n := j; n < len(ids); n += o.clients {
				mine = append(mine, ids[n])
			}
			if len(mine) == 0 {
				// More clients than leases: share round-robin so no stream idles.
				mine = append(mine, ids[j%len(ids)])
			}
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), o.reqTimeout)
			defer cancel()
			g, err := c.Grant(ctx, leaseTTL)
			if err != nil {
				return nil, err
			}
			mine = append(mine, g.ID)
			mu.Lock()
			ids = append(ids, g.ID)
			mu.Unlock()
		}
		// The raw stream, as etcd's tool does: clientv3's KeepAlive helper paces itself.
		stream, err := pb.NewLeaseClient(c.ActiveConnection()).LeaseKeepAlive(
			context.Background())
		if err != nil {
			return nil, err
		}
		next := 0
		return func(_ context.Context, i int) error {
			id := mine[next%len(mine)]
			next++
			if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
				return err
			}
			r, err := stream.Recv()
			if err == nil && r.TTL <= 0 {
				err = fmt.Errorf("lease %x not found on keep-alive", int64(id))
			}
			return err
		}, nil
	})
	if res != nil && o.leases > 0 {
		res.setExtra("leases", float64(len(ids)))
	}
	revokeLeases(o, ids)
	return res, err
}

// grantLeases grants o.leases leases with o.clients concurrent granters over o.conns
// connections and returns their ids (those granted so far on error, for revoking).
func grantLeases(o *options) ([]clientv3.LeaseID, error) {
	clis, err := newClients(o, o.conns)
	if err != nil {
		return nil, err
	}
	defer closeClients(clis)
	ids := make([]clientv3.LeaseID, o.leases)
	var next int64 = -1
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for j := 0; j < o.clients; j++ {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			for firstErr.Load() == nil {
				n := int(atomic.AddInt64(&next, 1))
				if n >= o.leases {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), o.reqTimeout)
				g, err := c.Grant(ctx, leaseTTL)
				cancel()
				if err != nil {
					firstErr.Store(err)
					return
				}
				ids[n] = g.ID
			}
		}(clis[j%len(clis)])
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		var got []clientv3.LeaseID
		for _, id := range ids {
			if id != 0 {
				got = append(got, id)
			}
		}
		return got, fmt.Errorf("granting %d leases: %v", o.leases, e.(error))
	}
	return ids, nil
}

// revokeLeases revokes ids concurrently (o.clients at a time over o.conns connections), giving
// up after maxRevokeTime; failures are ignored: the server is discarded after a benchmark.
func revokeLeases(o *options, ids []clientv3.LeaseID) {
	if len(ids) == 0 {
		return
	}
	clis, err := newClients(o, o.conns)
	if err != nil {
		return
	}
	defer closeClients(clis)
	ctx, cancel := context.WithTimeout(context.Background(), maxRevokeTime)
	defer cancel()
	var next int64 = -1
	var wg sync.WaitGroup
	for j := 0; j < o.clients && j < len(ids); j++ {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(atomic.AddInt64(&next, 1))
				if n >= len(ids) {
					return
				}
				c.Revoke(ctx, ids[n])
			}
		}(clis[j%len(clis)])
	}
	wg.Wait()
}

// runDefrag compacts to the head revision, then times Defragment while one client keeps
// putting, so the report shows both the defrag duration and the write pause it causes.
func runDefrag(o *options, _ []string) (*result, error) {
	c, err := newClient(o, o.dialTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	g, err := c.Get(ctx, "defrag-probe")
	if err != nil {
		return nil, err
	}
	if _, err := c.Compact(ctx, g.Header.Revision, clientv3.WithCompactPhysical()); err != nil &&
		!strings.Contains(err.Error(), "compacted") {
		return nil, fmt.Errorf("compact: %v", err)
	}
	type sample struct{ start, end time.Time }
	var samples []sample
	stop := make(chan struct{})
	done := make(chan struct{})
	probe, err := newClient(o, o.dialTimeout)
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(context.Background(), o.reqTimeout)
			t0 := time.Now()
			_, err := probe.Put(pctx, "defrag-probe", "x")
			pcancel()
			if err == nil {
				samples = append(samples, sample{t0, time.Now()})
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the probe reach steady state before the defrag
	pw, err := startProcWatch(o)
	if err != nil {
		close(stop)
		<-done
		return nil, err
	}
	d0 := time.Now()
	_, derr := c.Defragment(ctx, o.endpointList()[0])
	d1 := time.Now()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	if derr != nil {
		return nil, fmt.Errorf("defragment: %v", derr)
	}
	res := &result{}
	var during []time.Duration
	for _, s := range samples {
		if s.end.After(d0) && s.start.Before(d1) {
			during = append(during, s.end.Sub(s.start))
		}
	}
	pw.finish(res, 1)
	res.fill(during, 0, d1.Sub(d0))
	res.setExtra("defrag_ms", ms(d1.Sub(d0)))
	return res, nil
}

// processAlive reports whether pid exists and has not exited (an exited child its parent has
// not reaped yet is a zombie, state Z).
func processAlive(pid int) bool {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// checkCluster verifies that the endpoints form one cluster of o.members members with one
// leader, so that members which each started a one-member cluster of their own (a server
// without clustering) are not mistaken for a cluster.
func checkCluster(ctx context.Context, c *clientv3.Client, o *options) error {
	ml, err := c.MemberList(ctx)
	if err != nil {
		return err
	}
	if len(ml.Members) != o.members {
		return fmt.Errorf("%d members, want %d", len(ml.Members), o.members)
	}
	var cluster, leader uint64
	for i, ep := range o.endpointList() {
		st, err := c.Status(ctx, ep)
		if err != nil {
			return err
		}
		if i == 0 {
			cluster, leader = st.Header.ClusterId, st.Leader
		} else if st.Header.ClusterId != cluster || st.Leader != leader || leader == 0 {
			return fmt.Errorf("endpoint %s: cluster %x leader %x, others %x %x", ep,
				st.Header.ClusterId, st.Leader, cluster, leader)
		}
	}
	return nil
}

// runWaitHealthy polls until a linearizable get succeeds, i.e. the server has a leader, has
// applied its log and serves reads; reports the time since --since-ns (the harness passes the
// moment it started the server) or since this command started.
func runWaitHealthy(o *options, _ []string) (*result, error) {
	start := time.Now()
	if o.sinceNs > 0 {
		start = time.Unix(0, o.sinceNs)
	}
	addr := o.endpointList()[0]
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	// Give up a little before main's hard bound so the last error gets reported.
	deadline := time.Now().Add(o.timeout * 9 / 10)
	attempts := 0
	listening := false
	var lastErr error
	for time.Now().Before(deadline) {
		attempts++
		for _, pid := range o.pids {
			if !processAlive(pid) {
				return nil, fmt.Errorf("server process %d exited before becoming healthy", pid)
			}
		}
		// A cheap TCP probe until the port listens: creating a gRPC client against a closed
		// port costs a dial timeout, and gRPC's reconnect back-off would blur the measurement.
		// Only until then, because each bare connection is a failed handshake in a TLS
		// server's log.
		if !listening {
			conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
			if err != nil {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			conn.Close()
			listening = true
		}
		c, err := newClient(o, 500*time.Millisecond)
		if err != nil {
			lastErr = err
			time.Sleep(2 * time.Millisecond)
			continue
		}
		ok := false
		for k := 0; k < 50 && !ok; k++ { // bounded: a fresh client after 50 failed gets
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, err = c.Get(ctx, "health")
			if err == nil && o.members > 1 {
				err = checkCluster(ctx, c, o)
			}
			cancel()
			ok = err == nil
			if !ok {
				lastErr = err
				time.Sleep(2 * time.Millisecond)
			}
		}
		c.Close()
		if ok {
			res := &result{}
			res.fill([]time.Duration{time.Since(start)}, 0, time.Since(start))
			res.setExtra("attempts", float64(attempts))
			return res, nil
		}
	}
	return nil, fmt.Errorf("not healthy within %v (last error: %v)", o.timeout, lastErr)
}
