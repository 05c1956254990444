package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheCellsThatHoldOnThisTreeKeepHolding runs the short subset of the fault matrix, the
// cells marked Short: each must hold (nothing lost, nothing deleted without a record, counters
// that add up, the queue drained). The full matrix, with the cells that reproduce open
// findings, is make chaos.
func TestTheCellsThatHoldOnThisTreeKeepHolding(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := build(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cells() {
		if !c.Short {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			rows := runCells(context.Background(), bins, []cell{c}, testWriter{t})
			if r := rows[0]; r.Status != "✓" {
				t.Errorf("%s: %s", r.Status, r.Notes())
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestTheLedgerCatchesWhatADrainMustNeverDo(t *testing.T) {
	sent := []string{"A", "B", "C", "D"}
	rec := func(id string) logLine { return logLine{Msg: "alicom message", MessageID: id} }
	for _, c := range []struct {
		name    string
		runs    []run
		deleted map[string]int
		left    int64
		want    func(ledger) bool
	}{
		{"a message deleted with no record is lost", []run{{Lines: []logLine{rec("A"), rec("B"), rec("C")}}},
			map[string]int{"A": 1, "B": 1, "C": 1, "D": 1}, 0,
			func(l ledger) bool { return l.Lost == 1 && l.DeletedNoRecord == 1 }},
		{"a message that vanished without a delete is lost", []run{{Lines: []logLine{rec("A"), rec("B"), rec("C")}}},
			map[string]int{"A": 1, "B": 1, "C": 1}, 0,
			func(l ledger) bool { return l.Lost == 1 && l.DeletedNoRecord == 0 }},
		{"a message kept in the queue is not lost", []run{{Lines: []logLine{rec("A"), rec("B"), rec("C")}}},
			map[string]int{"A": 1, "B": 1, "C": 1}, 1,
			func(l ledger) bool { return l.Lost == 0 && l.Left == 1 }},
		{"a dead-letter line is a record", []run{{Lines: []logLine{rec("A"), rec("B"), rec("C"), {Msg: "dead-lettered", MessageID: "D"}}}},
			map[string]int{"A": 1, "B": 1, "C": 1, "D": 1}, 0,
			func(l ledger) bool { return l.Lost == 0 && l.DeadLettered == 1 && l.Recorded == 4 }},
		{"a message handled twice is re-handled once", []run{{Lines: []logLine{rec("A"), rec("A"), rec("B"), rec("C"), rec("D")}}},
			map[string]int{"A": 2, "B": 1, "C": 1, "D": 1}, 0,
			func(l ledger) bool { return l.Rehandled == 1 && l.Lost == 0 }},
		{"counters that do not add up are reported", []run{{Report: map[string]int64{"received": 4, "handled": 3}, Lines: []logLine{rec("A"), rec("B"), rec("C"), rec("D")}}},
			map[string]int{"A": 1, "B": 1, "C": 1, "D": 1}, 0,
			func(l ledger) bool { return len(l.ReportFailed) == 1 }},
		{"delete_failed for a deleted message is a lie", []run{{Report: map[string]int64{"received": 4, "handled": 4, "delete_failed": 2}, Lines: []logLine{rec("A"), rec("B"), rec("C"), rec("D")}}},
			map[string]int{"A": 1, "B": 1, "C": 1, "D": 1}, 0,
			func(l ledger) bool { return l.DeleteFailedLie == 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if l := tally(sent, c.runs, c.deleted, c.left); !c.want(l) {
				t.Errorf("ledger %+v", l)
			}
		})
	}
}

func TestThePageListsEveryCellAndTheFailingOnes(t *testing.T) {
	rows := []row{
		{Cell: cell{Name: "good", Finding: "—"}, Status: "✓", Outcome: outcome{Ledger: ledger{Sent: 3, Recorded: 3, PeakRSS: 20 * mb}}},
		{Cell: cell{Name: "bad", Finding: "#1"}, Status: "✗", Outcome: outcome{Failed: []string{"2 lost"}}},
	}
	var buf bytes.Buffer
	if err := render(&buf, pageData{Rows: rows}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| good | — | 3 | 3 |", "| 20 MB | ✓ |", "| bad | #1 |", "✗ 2 lost |", "- **bad** (#1): 2 lost"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the page lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestFindRootFindsTheModule(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "functions", "alicom-drain")); err != nil {
		t.Error(err)
	}
}
