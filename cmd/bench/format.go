package main

import (
	"fmt"
	"strings"
	"time"
)

// Number formats shared by the renderers.

func us(d time.Duration) float64    { return float64(d) / float64(time.Microsecond) }
func mb(n int64) float64            { return float64(n) / (1 << 20) }
func ms(d time.Duration) float64    { return float64(d) / float64(time.Millisecond) }
func fmtRTT(d time.Duration) string { return strings.TrimSuffix(fmt.Sprintf("%g ms", ms(d)), ".0") }
func fmtWait(d time.Duration) string {
	if d == 0 {
		return "0 s"
	}
	return fmt.Sprintf("%g s", d.Seconds())
}

// ratio formats a / b as "N×".
func ratio(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	x := a / b
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func rateStr(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}
