package main

import (
	"time"
)

// prices are the inputs of the cost table, with where they come from. Function Compute bills
// compute units (CU): invocations, active vCPU-seconds and memory GB-seconds, each converted at
// a fixed factor, times the price of a CU.
type prices struct {
	USDPerCU           float64 // tier 1 (the first 100 million CU of a month)
	CUPer10kInvocation float64
	CUPerVCPUSecond    float64
	CUPerGBSecond      float64
	VCPU, MemoryGB     float64 // the instance: s.yaml's 128 MB, and the smallest vCPU FC 3.0 pairs with it
	MNSFreeRequests    float64 // per month
	Source, Date       string
}

var defaultPrices = prices{
	USDPerCU: 0.000020, CUPer10kInvocation: 75, CUPerVCPUSecond: 1, CUPerGBSecond: 0.15,
	VCPU: 0.05, MemoryGB: 0.125, MNSFreeRequests: 20e6,
	Source: "Function Compute pay-as-you-go, CU prices and conversion factors (https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/product-overview/pay-as-you-go-billing-method-1, list price without the 2024–25 discount); " +
		"MNS: 20 million free requests a month (https://www.alibabacloud.com/help/en/mns/product-overview/billing-overview)",
	Date: "2026-12-01",
}

// month is the billing month the table assumes: 30 days, a timer every minute.
const (
	monthSeconds = 30 * 24 * 3600.0
	monthMinutes = 30 * 24 * 60.0
)

// costRow is one deployment's month for one customer.
type costRow struct {
	Variant     string
	PerDay      float64 // receipts a day
	Invocations float64
	Seconds     float64 // billed instance-seconds
	MNSRequests float64
	USD         float64 // Function Compute
	Basis       string  // what the figures were derived from
	NotMeasured string
}

// WithinFreeMNS says whether the month's MNS requests stay within the free quota.
func (c costRow) WithinFreeMNS(p prices) bool { return c.MNSRequests <= p.MNSFreeRequests }

func (p prices) usd(invocations, seconds float64) float64 {
	cu := invocations/1e4*p.CUPer10kInvocation + seconds*(p.VCPU*p.CUPerVCPUSecond+p.MemoryGB*p.CUPerGBSecond)
	return cu * p.USDPerCU
}

// customers are the two typical receipt volumes of the table.
var customers = []float64{10_000, 1_000_000}

// costs derives the month of each deployment from the measured requests and seconds at the
// target round trip.
func (res *results) costs() []costRow {
	p := res.Settings.Prices
	rtt := res.Settings.TargetRTT
	var out []costRow
	for _, perDay := range customers {
		msgs := perDay * 30
		// The default drain: a timer every minute; each invocation pays an idle invocation's
		// time and requests, plus its messages at the whole-wall rate of one invocation.
		c := costRow{Variant: "the default drain, a timer every minute", PerDay: perDay, Invocations: monthMinutes}
		idle, okIdle := res.warmEmpty(true, 0)
		proc, okProc := res.processAt(rtt)
		if okIdle && okProc && proc.Rate() > 0 {
			c.Seconds = monthMinutes*idle.Wall.Seconds() + msgs/proc.Rate()
			c.MNSRequests = monthMinutes*float64(idle.MNSRequests) + msgs*proc.ReqPerMsg()
			c.USD = p.usd(c.Invocations, c.Seconds)
			c.Basis = "warm idle invocation (default wait) + process start-to-exit rate and requests per message"
		} else {
			c.NotMeasured = "needs the empty-queue and process runs"
		}
		out = append(out, c)

		// Follow mode: one invocation always following; a timer every minute hands over.
		c = costRow{Variant: "DRAIN_MODE=follow, always following", PerDay: perDay, Invocations: monthMinutes, Seconds: monthSeconds}
		if f, ok := res.followAt(rtt); ok && f.NotMeasured == "" {
			active := float64(f.ActiveRequests) - f.IdlePerMinute*f.ActiveWindow.Minutes()
			c.MNSRequests = monthMinutes*f.IdlePerMinute + msgs*max(active, 0)/float64(len(f.Latencies))
			c.USD = p.usd(c.Invocations, c.Seconds)
			c.Basis = "idle requests per minute + requests per message arriving at random times"
		} else {
			c.NotMeasured = "follow mode not measured"
			if ok {
				c.NotMeasured = f.NotMeasured
			}
		}
		out = append(out, c)

		// The official demos' loops: a process that never ends, on an instance that never
		// stops; idle requests follow from each loop's timing at the round trip.
		for _, b := range []struct {
			kind        variantKind
			idlePerMin  float64
			description string
		}{
			{kindPythonDemo, 60 / (3 + 10.0 + rtt.Seconds()), "a 3 s long poll, then 10 s asleep, per idle round"},
			{kindDotnetDemo, 2 * 60 / (0.050 + rtt.Seconds()), "two threads, each a receive and 50 ms asleep per idle round"},
		} {
			c := costRow{Variant: labelFor(b.kind) + ", always on", PerDay: perDay, Invocations: 1, Seconds: monthSeconds}
			if r, ok := find(res.at(rtt), isKind(b.kind)); ok && r.Messages > 0 {
				c.MNSRequests = monthMinutes*b.idlePerMin + msgs*r.ReqPerMsg()
				c.USD = p.usd(c.Invocations, c.Seconds)
				c.Basis = "measured requests per message; idle: " + b.description
			} else {
				c.NotMeasured = "loop not measured"
			}
			out = append(out, c)
		}
	}
	return out
}

func labelFor(k variantKind) string {
	for _, b := range baselines {
		if b.kind == k {
			return b.label
		}
	}
	return string(k)
}

// followAt is the follow-mode row at rtt, if measured; when follow mode was found missing from
// the build at another round trip, that row, which says so.
func (res *results) followAt(rtt time.Duration) (followRow, bool) {
	for _, f := range res.Follow {
		if f.RTT == rtt || f.NotMeasured != "" {
			return f, true
		}
	}
	return followRow{}, false
}
