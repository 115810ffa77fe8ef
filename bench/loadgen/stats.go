package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is what every measuring command reports; the harness consumes the JSON form.
type result struct {
	Cmd     string  `json:"cmd"`
	Label   string  `json:"label,omitempty"`
	Total   int     `json:"total"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	QPS     float64 `json:"qps"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	P999    float64 `json:"p999_ms"`
	Max     float64 `json:"max_ms"`
	Mean    float64 `json:"mean_ms"`
	// The load generator's own CPU time over the measured phase (all its threads): on a shared
	// machine it bounds the throughput any server can be measured at (cores / client CPU per op).
	ClientCPUSec     float64 `json:"client_cpu_s"`
	ClientCPUUsPerOp float64 `json:"client_cpu_us_per_op"`
	// Of ClientCPUSec, the time spent in the kernel, and the page faults the load generator took
	// (minor: memory first touched). On a VM, the kernel time also holds time the host took
	// while the client was in a system call, whatever the server (docs/benchmarks.md).
	ClientSysSec     float64 `json:"client_sys_s"`
	ClientPageFaults int64   `json:"client_page_faults"`
	// Server-side figures, present only with --pid.
	ServerCPUSec float64 `json:"server_cpu_s"`
	CPUUsPerOp   float64 `json:"server_cpu_us_per_op"`
	PeakRSSKiB   int64   `json:"peak_rss_kib"`
	PeakAnonKiB  int64   `json:"peak_anon_kib"`
	EndRSSKiB    int64   `json:"end_rss_kib"`
	EndAnonKiB   int64   `json:"end_anon_kib"`
	// Command-specific figures (response size of a range, defrag pause, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
}

// fill computes throughput and latency percentiles from the per-request latencies.
func (r *result) fill(lat []time.Duration, errs int, elapsed time.Duration) {
	sortDurations(lat)
	r.Total = len(lat) + errs
	r.Errors = errs
	r.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		r.QPS = float64(len(lat)) / elapsed.Seconds()
	}
	r.P50 = percentile(lat, 50)
	r.P90 = percentile(lat, 90)
	r.P99 = percentile(lat, 99)
	r.P999 = percentile(lat, 99.9)
	if len(lat) > 0 {
		r.Max = ms(lat[len(lat)-1])
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		r.Mean = ms(sum) / float64(len(lat))
	}
}

func (r *result) setExtra(k string, v float64) {
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra[k] = v
}

func (r *result) print() {
	line := fmt.Sprintf("%s: %d ops (%d errors) in %.3fs = %.1f ops/s; latency ms p50 %.3f "+
		"p90 %.3f p99 %.3f p99.9 %.3f max %.3f", r.Cmd, r.Total, r.Errors, r.Seconds, r.QPS,
		r.P50, r.P90, r.P99, r.P999, r.Max)
	if r.ClientCPUSec > 0 {
		line += fmt.Sprintf("; client cpu %.3fs = %.1f us/op (kernel %.3fs, %d page faults)",
			r.ClientCPUSec, r.ClientCPUUsPerOp, r.ClientSysSec, r.ClientPageFaults)
	}
	if r.ServerCPUSec > 0 {
		line += fmt.Sprintf("; server cpu %.3fs = %.1f us/op", r.ServerCPUSec, r.CPUUsPerOp)
	}
	if r.PeakRSSKiB > 0 {
		line += fmt.Sprintf("; server peak rss %d KiB anon %d KiB", r.PeakRSSKiB, r.PeakAnonKiB)
	}
	for k, v := range r.Extra {
		line += fmt.Sprintf("; %s %g", k, v)
	}
	fmt.Fprintln(os.Stderr, line)
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // only plain numbers and strings: cannot fail
	}
	fmt.Println(string(b))
}

// userHZ is the unit of utime/stime in /proc/<pid>/stat; fixed at 100 on Linux for every
// architecture the project targets.
const userHZ = 100

// sampleInterval bounds how short a memory peak the sampler can miss; VmHWM (reset through
// clear_refs) catches RSS peaks exactly, the sampler is needed for anonymous memory.
const sampleInterval = 5 * time.Millisecond

// procWatch measures the load generator itself and the server process(es) during the measured
// phase of a command; with several servers (the members of a cluster) CPU time and memory are
// summed.
// Owner: the command's main goroutine; the sampler goroutine only touches the peak fields,
// under mu.
type procWatch struct {
	selfStart selfUsage
	pids      []int
	cpuStart  float64
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	peakRSS   int64
	peakAnon  int64
	hwmReset  bool // VmHWM was reset at start, so it is this phase's exact RSS peak
}

func cpuSeconds(pid int) (float64, error) {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name (field 2) may contain spaces; fields are counted after its ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14 utime
	st, err2 := strconv.ParseFloat(f[12], 64) // field 15 stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return (ut + st) / userHZ, nil
}

// memKiB returns VmRSS, RssAnon and VmHWM in KiB.
func memKiB(pid int) (rss, anon, hwm int64, err error) {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "RssAnon:":
			anon = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, anon, hwm, nil
}

// totals sums CPU seconds and memory over pids.
func totals(pids []int) (cpu float64, rss, anon, hwm int64, err error) {
	for _, pid := range pids {
		c, err := cpuSeconds(pid)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		r, a, h, err := memKiB(pid)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		cpu, rss, anon, hwm = cpu+c, rss+r, anon+a, hwm+h
	}
	return cpu, rss, anon, hwm, nil
}

// selfUsage is what this process (every thread) used so far.
type selfUsage struct {
	userSec, sysSec float64
	minorFaults     int64
}

func selfUsageNow() selfUsage {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return selfUsage{}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return selfUsage{userSec: tv(ru.Utime), sysSec: tv(ru.Stime), minorFaults: ru.Minflt}
}

// profilerAttachTime is how long the load generator idles after creating --ready-file, so that a
// profiler started then (perf record takes a few hundred ms) sees the whole measured phase.
const profilerAttachTime = 500 * time.Millisecond

// startProcWatch marks the start of a command's measured phase: it creates --ready-file, if
// given (and waits profilerAttachTime), and starts measuring the load generator and the servers
// of --pid.
func startProcWatch(o *options) (*procWatch, error) {
	if o.readyFile != "" {
		if err := ioutil.WriteFile(o.readyFile, nil, 0o644); err != nil {
			return nil, err
		}
		time.Sleep(profilerAttachTime)
	}
	pids := o.pids
	if len(pids) == 0 {
		return &procWatch{selfStart: selfUsageNow()}, nil
	}
	// Reset VmHWM so the reported peak belongs to this phase only (Linux >= 4.0; best effort).
	// With several processes the sum of their peaks bounds the peak of the sum from above.
	reset := true
	for _, pid := range pids {
		if ioutil.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) != nil {
			reset = false
		}
	}
	cpu, _, _, _, err := totals(pids)
	if err != nil {
		return nil, err
	}
	p := &procWatch{selfStart: selfUsageNow(), pids: pids, cpuStart: cpu, stop: make(chan struct{}),
		done: make(chan struct{}), hwmReset: reset && len(pids) == 1}
	p.sample()
	go func() {
		defer close(p.done)
		t := time.NewTicker(sampleInterval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.sample()
			}
		}
	}()
	return p, nil
}

func (p *procWatch) sample() {
	_, rss, anon, _, err := totals(p.pids)
	if err != nil {
		return
	}
	p.mu.Lock()
	if rss > p.peakRSS {
		p.peakRSS = rss
	}
	if anon > p.peakAnon {
		p.peakAnon = anon
	}
	p.mu.Unlock()
}

// finish stops sampling and records CPU per op (ops = successful operations) and memory.
func (p *procWatch) finish(r *result, ops int) {
	now := selfUsageNow()
	r.ClientSysSec = now.sysSec - p.selfStart.sysSec
	r.ClientCPUSec = now.userSec - p.selfStart.userSec + r.ClientSysSec
	r.ClientPageFaults = now.minorFaults - p.selfStart.minorFaults
	if ops > 0 {
		r.ClientCPUUsPerOp = r.ClientCPUSec * 1e6 / float64(ops)
	}
	if len(p.pids) == 0 {
		return
	}
	close(p.stop)
	<-p.done
	cpu, rss, anon, hwm, err := totals(p.pids)
	if err != nil {
		return
	}
	r.ServerCPUSec = cpu - p.cpuStart
	if ops > 0 {
		r.CPUUsPerOp = r.ServerCPUSec * 1e6 / float64(ops)
	}
	p.sample()
	r.EndRSSKiB, r.EndAnonKiB = rss, anon
	r.PeakRSSKiB, r.PeakAnonKiB = p.peakRSS, p.peakAnon
	if p.hwmReset && hwm > r.PeakRSSKiB {
		r.PeakRSSKiB = hwm
	}
}
