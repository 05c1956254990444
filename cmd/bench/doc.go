package main

import "io"

func writeDoc(w io.Writer, res *results, chart string) error { writeResults(w, res); return nil }
