// Command distzip packs files into a deployment zip with their executable bits kept, which
// Lambda's provided.al2023 runtime and FC's go1 runtime need for the bootstrap/main binary. It
// exists so that `make build` needs nothing but Go.
//
//	go run ./cmd/distzip -o dist/fc.zip dist/fc/main
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "zip file to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: distzip -o OUT.zip FILE...")
		os.Exit(2)
	}
	if err := pack(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "distzip:", err)
		os.Exit(1)
	}
}

// pack writes each file at the zip's root under its base name.
func pack(out string, files []string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	for _, name := range files {
		if err := add(zw, name); err != nil {
			return err
		}
	}
	return zw.Close()
}

func add(zw *zip.Writer, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return err
	}
	hdr.Name = filepath.Base(name)
	hdr.Method = zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}
