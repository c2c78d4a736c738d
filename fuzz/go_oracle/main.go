// Command go_oracle reads tar streams with Go's archive/tar and prints what it
// sees, so tests can compare shipcheck's reader with the reference one.
//
// Input: cases framed as an 8-byte little-endian length and that many bytes.
// Output per case: one line per entry ("type name-hex link-hex size mode uid
// gid data-hex"), then "EOF" or "ERR", then "END".
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		var n uint64
		if err := binary.Read(in, binary.LittleEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(in, buf); err != nil {
			return
		}
		tr := tar.NewReader(bytes.NewReader(buf))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				fmt.Fprintln(out, "EOF")
				break
			}
			if err != nil {
				fmt.Fprintln(out, "ERR")
				break
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				fmt.Fprintln(out, "ERR")
				break
			}
			fmt.Fprintf(out, "%d %x %x %d %d %d %d %s\n", h.Typeflag, h.Name, h.Linkname, h.Size, h.Mode, h.Uid, h.Gid, hex.EncodeToString(data))
		}
		fmt.Fprintln(out, "END")
	}
}
