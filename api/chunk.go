package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A stream whose length is not known in advance (a playback, a live view)
// is sent in chunks, so that its reader knows where it ends and can send
// its receipt: each chunk is a 4-byte big-endian length and that many
// bytes; a zero length ends the stream.

// maxChunk is the largest chunk a ChunkReader accepts.
const maxChunk = 4 << 20

// ChunkWriter frames what is written to it as chunks. Close writes the end
// mark (it does not close the underlying writer).
type ChunkWriter struct {
	w   io.Writer
	hdr [4]byte
}

// NewChunkWriter returns a ChunkWriter on w.
func NewChunkWriter(w io.Writer) *ChunkWriter { return &ChunkWriter{w: w} }

// Write sends p as chunks of at most 4 MiB.
func (c *ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		part := p[:min(len(p), maxChunk)]
		binary.BigEndian.PutUint32(c.hdr[:], uint32(len(part)))
		if _, err := c.w.Write(c.hdr[:]); err != nil {
			return n, err
		}
		m, err := c.w.Write(part)
		n += m
		if err != nil {
			return n, err
		}
		p = p[len(part):]
	}
	return n, nil
}

// Close writes the end mark.
func (c *ChunkWriter) Close() error {
	_, err := c.w.Write([]byte{0, 0, 0, 0})
	return err
}

// ChunkReader reads a chunked stream; Read returns io.EOF at the end mark,
// and io.ErrUnexpectedEOF if the stream stops before it.
type ChunkReader struct {
	r    io.Reader
	left uint32
	done bool
}

// NewChunkReader returns a ChunkReader on r.
func NewChunkReader(r io.Reader) *ChunkReader { return &ChunkReader{r: r} }

// errChunk means a chunk header is not valid.
var errChunk = errors.New("malformed stream chunk")

// Read reads the stream's bytes.
func (c *ChunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		c.left = binary.BigEndian.Uint32(hdr[:])
		if c.left == 0 {
			c.done = true
			return 0, io.EOF
		}
		if c.left > maxChunk {
			return 0, fmt.Errorf("%w: %d bytes", errChunk, c.left)
		}
	}
	n, err := c.r.Read(p[:min(len(p), int(c.left))])
	c.left -= uint32(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
