package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"strconv"
	"strings"
	"time"
)

// options holds every flag; one flat set because, as in etcd's benchmark tool, global flags
// (--endpoints, --conns, ...) may be given before or after the command word.
type options struct {
	endpoints   string
	conns       int
	clients     int
	cacert      string
	cert        string
	key         string
	dialTimeout time.Duration
	reqTimeout  time.Duration
	timeout     time.Duration

	total        int
	keySize      int
	valSize      int
	keySpaceSize int
	seqKeys      bool
	consistency  string
	txnOps       int
	prefix       string

	streams           int
	watchersPerStream int
	putTotal          int
	putRate           int

	leases int

	pids      []int
	readyFile string
	members   int
	label     string
	sinceNs   int64
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(ioutil.Discard)
	fs.StringVar(&o.endpoints, "endpoints", "127.0.0.1:2379", "comma-separated gRPC endpoints")
	fs.IntVar(&o.conns, "conns", 1, "gRPC connections (one clientv3.Client each)")
	fs.IntVar(&o.clients, "clients", 1, "concurrent clients, spread round-robin over --conns")
	fs.StringVar(&o.cacert, "cacert", "", "CA bundle that verifies the server (enables TLS)")
	fs.StringVar(&o.cert, "cert", "", "client certificate (TLS)")
	fs.StringVar(&o.key, "key", "", "client key (TLS)")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "per-connection dial timeout")
	fs.DurationVar(&o.reqTimeout, "request-timeout", 30*time.Second, "per-request timeout")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "hard bound on the whole command")

	fs.IntVar(&o.total, "total", 10000, "total requests (or keys for load)")
	fs.IntVar(&o.keySize, "key-size", 8, "key size in bytes")
	fs.IntVar(&o.valSize, "val-size", 8, "value size in bytes")
	fs.IntVar(&o.keySpaceSize, "key-space-size", 1, "number of distinct keys to write into")
	fs.BoolVar(&o.seqKeys, "sequential-keys", false, "use keys 0,1,2... instead of random")
	fs.StringVar(&o.consistency, "consistency", "l", "range consistency: l (linearizable) or s")
	fs.IntVar(&o.txnOps, "txn-ops", 1, "puts per txn (txn-put; load defaults to 128)")
	fs.StringVar(&o.prefix, "prefix", "k/", "key prefix for load/defrag")

	fs.IntVar(&o.streams, "streams", 10, "watch streams (watch-latency)")
	fs.IntVar(&o.watchersPerStream, "watchers-per-stream", 10, "watchers per stream")
	fs.IntVar(&o.putTotal, "put-total", 100, "puts observed by the watchers (watch-latency)")
	fs.IntVar(&o.putRate, "put-rate", 100, "puts per second (watch-latency)")

	fs.IntVar(&o.leases, "leases", 0,
		"lease-keepalive: grant this many leases up front, spread over the clients (0: one each)")

	fs.Var((*pidList)(&o.pids), "pid",
		"server pid(s), comma-separated: report their CPU time per op and peak memory (summed)")
	fs.StringVar(&o.readyFile, "ready-file", "",
		"create this file, then wait 0.5 s, before the measured phase (after dialling): for a profiler")
	fs.IntVar(&o.members, "members", 1, "wait-healthy: require a cluster of this many members")
	fs.StringVar(&o.label, "label", "", "free-form label copied into the JSON output")
	fs.Int64Var(&o.sinceNs, "since-ns", 0, "wait-healthy: measure from this unix time in ns")
	return fs
}

// parseFlags parses flags interleaved with positional arguments (Go's flag package stops at the
// first positional one) and returns the positional arguments.
func parseFlags(o *options, argv []string) ([]string, error) {
	fs := newFlagSet(o)
	var pos []string
	for {
		if err := fs.Parse(argv); err != nil {
			return nil, err
		}
		argv = fs.Args()
		if len(argv) == 0 {
			break
		}
		pos = append(pos, argv[0])
		argv = argv[1:]
	}
	if o.conns < 1 || o.clients < 1 || o.total < 1 {
		return nil, fmt.Errorf("--conns, --clients and --total must be positive")
	}
	if o.consistency != "l" && o.consistency != "s" {
		return nil, fmt.Errorf("--consistency must be l or s")
	}
	if o.keySpaceSize < 1 || o.txnOps < 1 || o.streams < 1 || o.watchersPerStream < 1 ||
		o.putTotal < 1 || o.putRate < 1 || o.leases < 0 {
		return nil, fmt.Errorf("sizes and counts must be positive")
	}
	return pos, nil
}

// pidList is a flag.Value for comma-separated process ids.
type pidList []int

func (p *pidList) String() string { return fmt.Sprint([]int(*p)) }

func (p *pidList) Set(v string) error {
	*p = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad pid %q", f)
		}
		*p = append(*p, n)
	}
	return nil
}

func (o *options) endpointList() []string {
	var eps []string
	for _, e := range strings.Split(o.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
