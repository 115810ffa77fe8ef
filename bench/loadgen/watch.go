package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc/metadata"
)

// watchKey is the single key every watcher watches and the putter writes, so each put fans out
// to all --streams x --watchers-per-stream watchers.
const watchKey = "watch-latency-key"

// watchDrainGrace bounds how long after the last put the watchers may take to see it.
const watchDrainGrace = 10 * time.Second

// runWatchLatency measures put-to-event latency: each put carries its sequence number as the
// value, its send time is recorded before the put is issued, and every watcher computes
// arrival - send for every event it receives.
func runWatchLatency(o *options, _ []string) (*result, error) {
	clis, err := newClients(o, o.conns)
	if err != nil {
		return nil, err
	}
	defer closeClients(clis)
	putter, err := newClient(o, o.dialTimeout)
	if err != nil {
		return nil, err
	}
	defer putter.Close()

	nWatchers := o.streams * o.watchersPerStream
	sendNs := make([]int64, o.putTotal) // written by the putter, read by watchers, atomically
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Create every watcher and wait until the server has confirmed it, so no put is missed.
	chans := make([]clientv3.WatchChan, 0, nWatchers)
	for s := 0; s < o.streams; s++ {
		// clientv3 multiplexes watchers with equal outgoing metadata onto one gRPC stream; a
		// distinct value per stream gives each group its own stream.
		sctx := metadata.AppendToOutgoingContext(ctx, "loadgen-stream", strconv.Itoa(s))
		c := clis[s%len(clis)]
		for w := 0; w < o.watchersPerStream; w++ {
			chans = append(chans, c.Watch(sctx, watchKey, clientv3.WithCreatedNotify()))
		}
	}
	createDeadline := time.After(o.reqTimeout)
	for i, ch := range chans {
		select {
		case wr, ok := <-ch:
			if !ok || !wr.Created {
				return nil, fmt.Errorf("watcher %d not created: %v", i, wr.Err())
			}
		case <-createDeadline:
			return nil, fmt.Errorf("only %d of %d watchers created in %v", i, nWatchers,
				o.reqTimeout)
		}
	}

	lats := make([][]time.Duration, nWatchers)
	var wg sync.WaitGroup
	stopWatchers := make(chan struct{})
	for i, ch := range chans {
		wg.Add(1)
		go func(i int, ch clientv3.WatchChan) {
			defer wg.Done()
			lat := make([]time.Duration, 0, o.putTotal)
			for len(lat) < o.putTotal {
				select {
				case <-stopWatchers:
					lats[i] = lat
					return
				case wr, ok := <-ch:
					if !ok {
						lats[i] = lat
						return
					}
					now := time.Now().UnixNano()
					for _, ev := range wr.Events {
						n, err := strconv.Atoi(string(ev.Kv.Value))
						if err != nil || n < 0 || n >= len(sendNs) {
							continue
						}
						lat = append(lat, time.Duration(now-atomic.LoadInt64(&sendNs[n])))
					}
				}
			}
			lats[i] = lat
		}(i, ch)
	}

	pw, err := startProcWatch(o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	interval := time.Second / time.Duration(o.putRate)
	putErrs := 0
	for n := 0; n < o.putTotal; n++ {
		if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		pctx, pcancel := context.WithTimeout(ctx, o.reqTimeout)
		atomic.StoreInt64(&sendNs[n], time.Now().UnixNano())
		_, err := putter.Put(pctx, watchKey, strconv.Itoa(n))
		pcancel()
		if err != nil {
			putErrs++
		}
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(watchDrainGrace):
		close(stopWatchers)
		<-allDone
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	res := &result{}
	pw.finish(res, len(all))
	res.fill(all, nWatchers*o.putTotal-len(all), elapsed)
	res.setExtra("watchers", float64(nWatchers))
	res.setExtra("puts", float64(o.putTotal))
	res.setExtra("put_errors", float64(putErrs))
	return res, nil
}
