package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// The chart renderer: throughput against round trip, drawn by hand (no plotting module). The
// Markdown renderer is markdown.go.

// series is one line of the chart.
type series struct {
	name   string
	color  string
	width  float64
	dash   string
	points [][2]float64 // RTT in ms, msg/s
}

// bestBoundName names the bound line of the best receiver counts, with C when it is the same
// at every round trip.
func bestBoundName(res *results) string {
	cs := map[int]bool{}
	for _, r := range res.Rows {
		if r.Best {
			cs[r.Conc] = true
		}
	}
	if len(cs) == 1 {
		for c := range cs {
			return fmt.Sprintf("bound C×16/RTT, C=%d (best)", c)
		}
	}
	return "bound C×16/RTT for the best C"
}

func chartSeries(res *results) []series {
	pick := func(name, color string, width float64, dash string, pred func(row) bool, value func(row) float64) series {
		s := series{name: name, color: color, width: width, dash: dash}
		for _, rtt := range res.Settings.RTTs {
			if r, ok := find(res.at(rtt), pred); ok {
				s.points = append(s.points, [2]float64{ms(rtt), value(r)})
			}
		}
		return s
	}
	rate := row.Rate
	def := defaultReceivers()
	out := []series{
		pick("ours, best receivers", "#d62728", 3, "", isBest, rate),
		pick(fmt.Sprintf("ours, default (C=%d)", def), "#ff7f0e", 2, "", isDefault, rate),
		pick(labelJava+" (16 threads)", "#1f77b4", 2, "", isKind(kindJava), rate),
		pick(labelDotnetDemo, "#2ca02c", 2, "", isKind(kindDotnetDemo), rate),
		pick(labelPythonDemo, "#9467bd", 2, "", isKind(kindPythonDemo), rate),
		pick(fmt.Sprintf("bound C×16/RTT, C=%d", def), "#7f7f7f", 1.5, "6 4", isDefault, row.Bound),
		pick(bestBoundName(res), "#7f7f7f", 1.5, "2 3", isBest, row.Bound),
	}
	return slices.DeleteFunc(out, func(s series) bool { return len(s.points) == 0 })
}

// tick labels a decade on the rate axis: 1, 10, 100, 1k, 10k, 100k, 1M, ...
func tick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	default:
		return fmt.Sprintf("%g", v)
	}
}

// writeSVG draws throughput against round trip, both axes logarithmic, by hand: no plotting
// module.
func writeSVG(w io.Writer, res *results) error {
	const (
		width, height          = 940.0, 480.0
		left, right, top, bott = 80.0, 350.0, 50.0, 60.0
	)
	ss := chartSeries(res)
	if len(ss) == 0 {
		return fmt.Errorf("no data to chart")
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.points {
			xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
			if p[1] > 0 {
				ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
			}
		}
	}
	lx0, lx1 := math.Log10(xmin), math.Log10(xmax)
	if lx1-lx0 < 0.5 {
		lx0, lx1 = lx0-0.5, lx1+0.5
	} else {
		pad := 0.06 * (lx1 - lx0)
		lx0, lx1 = lx0-pad, lx1+pad
	}
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if ly1 == ly0 {
		ly1++
	}
	pw, ph := width-left-right, height-top-bott
	px := func(v float64) float64 { return left + (math.Log10(v)-lx0)/(lx1-lx0)*pw }
	py := func(v float64) float64 { return top + ph - (math.Log10(v)-ly0)/(ly1-ly0)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="15" font-weight="bold">Drain throughput against MNS round trip (%d messages, log–log)</text>`+"\n", left, res.Settings.Backlog)
	// Grid: decades on y (with 2 and 5 as minor lines), measured round trips on x.
	for d := ly0; d <= ly1; d++ {
		v := math.Pow(10, d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", left, py(v), left+pw, py(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(v)+4, tick(v))
		for _, m := range []float64{2, 5} {
			if d < ly1 {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, py(m*v), left+pw, py(m*v))
			}
		}
	}
	for _, rtt := range res.Settings.RTTs {
		x := px(ms(rtt))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, top+ph+18, fmtRTT(rtt))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">round trip per MNS request (emulator-injected)</text>`+"\n", left+pw/2, height-16)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">messages per second (handled and deleted)</text>`+"\n", top+ph/2)
	for i, s := range ss {
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		var pts []string
		for _, p := range s.points {
			if p[1] > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", s.color, s.width, dash, strings.Join(pts, " "))
		if s.dash == "" {
			for _, p := range s.points {
				if p[1] > 0 {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %s: %s msg/s</title></circle>`+"\n",
						px(p[0]), py(p[1]), s.color, s.name, fmtRTT(time.Duration(p[0]*float64(time.Millisecond))), rateStr(p[1]))
				}
			}
		}
		ly := top + 10 + float64(i)*22
		lx := left + pw + 16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", lx, ly, lx+28, ly, s.color, s.width, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+34, ly+4, s.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
