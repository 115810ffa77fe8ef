// Command loadgen drives an etcd v3 server (real etcd or etcdpp) through the Go clientv3 library,
// the client kube-apiserver uses, so that both servers are measured with the same independent
// client. Its command shape follows etcd's own benchmark tool so figures compare with etcd's
// published tables:
//
//	loadgen [global flags] put|range|txn-put|watch-latency|lease-keepalive [flags] [args]
//
// plus helper commands the side-by-side harness (bench/run.sh) needs: load, defrag,
// wait-healthy and free-port.
//
// Every measuring command prints one human-readable line to stderr and one JSON object on a
// single line to stdout. With --pid it also reports the server's CPU time per operation (utime +
// stime from /proc/<pid>/stat around the measured phase) and its peak memory.
//
// Threading: main sets everything up; each simulated client is one goroutine owning its own
// latency slice; results are merged after all goroutines have finished.
package main

import (
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc/grpclog"
)

type command struct {
	name  string
	usage string
	run   func(o *options, args []string) (*result, error)
}

var commands = []command{
	{"put", "put: random (or --sequential-keys) puts of --key-size/--val-size bytes", runPut},
	{"range", "range KEY [END]: --total gets, --consistency l|s", runRange},
	{"txn-put", "txn-put: txns of --txn-ops puts each", runTxnPut},
	{"watch-latency", "watch-latency: put-to-event latency over --streams x --watchers-per-stream",
		runWatchLatency},
	{"lease-keepalive", "lease-keepalive: --total keep-alive round trips on LeaseKeepAlive streams",
		runLeaseKeepalive},
	{"load", "load: --total sequential keys under --prefix, --txn-ops puts per txn", runLoad},
	{"defrag", "defrag: compact to head, then Defragment while 1 client puts; reports the pause",
		runDefrag},
	{"wait-healthy", "wait-healthy: poll a linearizable get until it succeeds (--timeout)",
		runWaitHealthy},
	{"free-port", "free-port: print an unused 127.0.0.1 TCP port", nil},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: loadgen [flags] <command> [flags] [args]\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %s\n", c.usage)
	}
	fmt.Fprintf(os.Stderr, "flags:\n")
	newFlagSet(&options{}).PrintDefaults()
}

// splitCommand finds the command word anywhere in argv (cobra-style: global flags may come before
// or after it) and returns it with the remaining arguments.
func splitCommand(argv []string) (string, []string) {
	known := map[string]bool{}
	for _, c := range commands {
		known[c.name] = true
	}
	for i, a := range argv {
		if known[a] {
			rest := append(append([]string{}, argv[:i]...), argv[i+1:]...)
			return a, rest
		}
	}
	return "", argv
}

func main() {
	// grpc-go logs every reconnect attempt at info level; only errors matter here.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))

	name, rest := splitCommand(os.Args[1:])
	if name == "" {
		usage()
		os.Exit(2)
	}
	o := &options{}
	args, err := parseFlags(o, rest)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	if name == "free-port" {
		p, err := freePort()
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(p)
		return
	}
	var cmd command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	// Hard bound on the whole command so a wedged server can never hang the harness.
	timer := time.AfterFunc(o.timeout, func() {
		fmt.Fprintf(os.Stderr, "loadgen %s: timed out after %v\n", name, o.timeout)
		os.Exit(3)
	})
	defer timer.Stop()

	res, err := cmd.run(o, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", name, err)
		os.Exit(1)
	}
	res.Cmd = name
	res.Label = o.label
	res.print()
	if res.Errors > 0 && res.Errors*100 > res.Total {
		// More than 1% failed requests: the figures are not trustworthy.
		fmt.Fprintf(os.Stderr, "loadgen %s: %d of %d requests failed\n", name, res.Errors,
			res.Total)
		os.Exit(1)
	}
}

// percentile returns the nearest-rank percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return ms(sorted[rank])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}
